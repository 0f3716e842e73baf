import assert from 'node:assert/strict';
import { IntentMatcher, SET_VOLUME_TOOL } from '../../src/intents';
import { catalogueOf, homeEntities, ids } from './fixtures';

describe('intents/matcher (Chinese built-ins)', () => {
  const matcher = new IntentMatcher({ languages: ['zh', 'en'], catalogue: catalogueOf(homeEntities(), ['书房']) });
  const match = (text: string) => matcher.match(text, 'zh');

  it('turns on and off by name, with or without 的, spaces, fillers and 把', () => {
    for (const text of ['打开客厅灯', '打开客厅的灯', '请帮我打开一下客厅灯吧', '打开 客厅 的 灯。', '把客厅灯打开', '客厅灯打开']) {
      const m = match(text);
      assert.equal(m?.intent, 'HassTurnOn', text);
      assert.deepEqual(ids(m), ['light.living_zh'], text);
      assert.equal(m?.language, 'zh');
    }
    const off = match('把卧室灯关掉');
    assert.equal(off?.intent, 'HassTurnOff');
    assert.deepEqual(ids(off), ['light.bedroom_zh']);
    assert.equal(off?.response, '已关闭卧室灯');
    assert.equal(match('关闭电视插座')?.intent, 'HassTurnOff');
    assert.equal(match('切换床头灯')?.intent, 'HassToggle');
  });

  it('expands an area to all its lights', () => {
    const on = match('打开卧室的所有灯');
    assert.equal(on?.intent, 'HassTurnOn');
    assert.deepEqual(ids(on), ['light.bedroom_zh', 'light.bedside_zh']);
    assert.equal(on?.slots.area, '卧室');
    assert.equal(on?.response, '已打开卧室的灯');
    assert.deepEqual(ids(match('把客厅的灯都关了')), ['light.living_strip', 'light.living_zh']);
    assert.equal(match('把客厅的灯都关了')?.intent, 'HassTurnOff');
    assert.equal(match('打开书房的灯'), undefined);
  });

  it('sets brightness with Chinese numerals, digits and 百分之', () => {
    const half = match('把客厅灯调到百分之五十');
    assert.equal(half?.intent, 'HassLightSet');
    assert.equal(half?.slots.brightness, 50);
    assert.deepEqual(ids(half), ['light.living_zh']);
    assert.equal(half?.response, '已将客厅灯亮度调到50%');
    assert.equal(match('客厅灯亮度调到30%')?.slots.brightness, 30);
    assert.equal(match('把卧室灯亮度设置为七十五')?.slots.brightness, 75);
    assert.equal(match('把客厅灯调到一百')?.slots.brightness, 100);
    // 的 is a filler, so "卧室的灯" names the entity 卧室灯 (exact name beats area) ...
    assert.deepEqual(ids(match('把卧室的灯亮度调到二十')), ['light.bedroom_zh']);
    // ... and "all the lights of the bedroom" is the area.
    assert.deepEqual(ids(match('把卧室所有灯亮度调到二十')), ['light.bedroom_zh', 'light.bedside_zh']);
    assert.equal(match('把客厅灯调暗一点')?.slots.brightnessStep, -25);
    assert.equal(match('把床头灯调亮些')?.slots.brightnessStep, 25);
  });

  it('sets colour and colour temperature', () => {
    const red = match('把客厅灯调成红色');
    assert.equal(red?.intent, 'HassLightSet');
    assert.equal(red?.slots.color, 'red');
    assert.equal(red?.response, '已将客厅灯调成红色');
    assert.equal(match('客厅灯颜色换成蓝色')?.slots.color, 'blue');
    const warm = match('把客厅灯调成暖光');
    assert.equal(warm?.slots.colorTempK, 2700);
    assert.equal(warm?.response, '已将客厅灯调成暖光');
    assert.equal(match('把灯带调成红色'), undefined); // no colour capability
  });

  it('opens, closes and positions curtains', () => {
    assert.equal(match('打开客厅窗帘')?.intent, 'HassOpenCover');
    assert.deepEqual(ids(match('打开客厅窗帘')), ['cover.living_curtain']);
    assert.equal(match('拉上客厅窗帘')?.intent, 'HassCloseCover');
    assert.equal(match('把客厅窗帘关上')?.intent, 'HassCloseCover');
    const pos = match('把客厅窗帘开到百分之三十');
    assert.equal(pos?.intent, 'HassSetPosition');
    assert.equal(pos?.slots.position, 30);
    assert.equal(match('把客厅窗帘开到一半')?.slots.position, 50);
  });

  it('sets the air conditioner temperature', () => {
    const set = match('把卧室空调调到二十六度');
    assert.equal(set?.intent, 'HassClimateSetTemperature');
    assert.equal(set?.slots.temperature, 26);
    assert.deepEqual(ids(set), ['climate.bedroom_ac']);
    assert.equal(set?.response, '已将卧室空调设为26度');
    assert.equal(match('温度调到24度')?.slots.temperature, 24);
    assert.deepEqual(ids(match('把卧室空调温度设为二十二点五度')), ['climate.bedroom_ac']);
    assert.equal(match('把卧室空调温度设为二十二点五度')?.slots.temperature, 22.5);
  });

  it('starts scenes', () => {
    const scene = match('打开回家模式');
    assert.equal(scene?.intent, 'HassTurnOn');
    assert.deepEqual(ids(scene), ['scene.home_zh']);
    assert.equal(scene?.slots.domain, 'scene');
    assert.deepEqual(ids(match('启动观影模式')), ['scene.movie']);
  });

  it('answers state queries', () => {
    const q = match('客厅灯开着吗');
    assert.equal(q?.intent, 'HassGetState');
    assert.equal(q?.slots.state, 'on');
    assert.deepEqual(ids(q), ['light.living_zh']);
    assert.equal(match('卧室灯关了没有')?.slots.state, 'off');
    assert.equal(match('客厅窗帘是什么状态')?.intent, 'HassGetState');
  });

  it('sets the device volume', () => {
    const set = match('音量调到50');
    assert.equal(set?.intent, 'DeviceSetVolume');
    assert.deepEqual(set?.slots, { tool: SET_VOLUME_TOOL, volume: 50 });
    assert.equal(set?.response, '音量已调到50');
    assert.equal(match('把音量调到百分之三十')?.slots.volume, 30);
    assert.equal(match('声音调到八十')?.slots.volume, 80);
    assert.equal(match('大声一点')?.slots.volumeStep, 10);
    assert.equal(match('小声点')?.slots.volumeStep, -10);
    assert.equal(match('调大音量')?.slots.volumeStep, 10);
    assert.equal(match('静音')?.slots.volume, 0);
  });

  it('misses chit-chat and unknown devices', () => {
    for (const text of ['今天天气怎么样', '打开宇宙飞船', '给我讲个笑话', '把月亮调暗', '法国的首都是哪里', '打开']) {
      assert.equal(match(text), undefined, text);
    }
  });
});
