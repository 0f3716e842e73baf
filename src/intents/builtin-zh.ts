/**
 * Built-in Chinese (Mandarin, simplified) home intents: the same intents and slots as
 * builtin-en.ts, phrased the way people speak to 小爱/天猫精灵-style speakers. Every Han
 * character is a token, so templates and input need no spaces; 的 and polite fillers (请, 帮我,
 * 一下, 吧...) are dropped before matching, so "打开客厅的灯" and "帮我打开一下客厅灯吧" are the
 * same sentence.
 */
import { SET_VOLUME_TOOL } from './builtin-en';
import type { IntentLanguagePack } from './types';

const ON_OFF = { capability: 'onOff' } as const;

/** The Chinese pack. */
export const BUILTIN_ZH: IntentLanguagePack = {
  language: 'zh',
  skipWords: [
    '请', '请你', '帮我', '帮忙', '麻烦你', '麻烦', '给我', '一下', '吧', '啊', '呀', '哦', '嘛', '的',
    '能不能', '可不可以', '可以', '我想', '我要', '现在',
  ],
  rules: {
    let: '[把|将|让|给]',
    on: '(打开|开启|开|启动|点亮)',
    off: '(关闭|关掉|关上|关了|关|熄灭|灭掉)',
    all: '(所有|全部)',
    set_to: '(调|设|设置|调节|调整|改|变|开)(到|成|为|至)',
    bit: '[一点|一些|点|些]',
    in_area: '{area}[里|里面|里边]',
    brightness: '[百分之]{brightness}[%]',
    named: '[{area}]{name}',
    onoff_area: '(<in_area>[<all>]{domain_onoff:domain}|<all><in_area>{domain_onoff:domain})',
    light_area: '(<in_area>[<all>]{domain_light:domain}|<all><in_area>{domain_light:domain})',
    cover_area: '(<in_area>[<all>]{domain_cover:domain}|<all><in_area>{domain_cover:domain})',
    climate_area: '<in_area>{domain_climate:domain}',
    degrees: '(度|摄氏度|°[c])',
    query: '(吗|么|没有|没|呢)',
  },
  lists: {
    domain_onoff: {
      kind: 'values',
      values: [
        { in: '(灯|灯光|电灯|台灯|吊灯|吸顶灯|筒灯|射灯|床头灯|灯泡|灯带)', out: 'light' },
        { in: '(开关|插座|电源|排插)', out: 'switch' },
        { in: '(风扇|电扇|电风扇|吊扇)', out: 'fan' },
      ],
    },
    domain_light: { kind: 'values', values: [{ in: '(灯|灯光|电灯|台灯|吊灯|吸顶灯|筒灯|射灯|床头灯|灯泡|灯带)', out: 'light' }] },
    domain_cover: { kind: 'values', values: [{ in: '(窗帘|百叶窗|卷帘|遮阳帘|车库门|纱帘)', out: 'cover' }] },
    domain_climate: { kind: 'values', values: [{ in: '(空调|暖气|地暖|温控器|恒温器)', out: 'climate' }] },
    color: {
      kind: 'values',
      values: [
        { in: '(红|红色)', out: 'red' },
        { in: '(橙|橙色)', out: 'orange' },
        { in: '(黄|黄色)', out: 'yellow' },
        { in: '(绿|绿色)', out: 'green' },
        { in: '(蓝|蓝色)', out: 'blue' },
        { in: '(紫|紫色)', out: 'purple' },
        { in: '(粉|粉色|粉红|粉红色)', out: 'pink' },
        { in: '(白|白色)', out: 'white' },
        { in: '(青|青色)', out: 'cyan' },
      ],
    },
    color_temp: {
      kind: 'values',
      values: [
        { in: '(暖光|暖白|暖白光|暖色|暖色调|暖黄光)', out: 2700 },
        { in: '(自然光|中性光|自然白|正白光)', out: 4000 },
        { in: '(冷光|冷白|冷白光|冷色|冷色调|白光)', out: 6500 },
      ],
    },
    on_off_state: {
      kind: 'values',
      values: [
        { in: '(开着|开了|打开了|开启了|亮着)', out: 'on' },
        { in: '(关着|关了|关闭了|关掉了|灭了)', out: 'off' },
      ],
    },
    cover_state: {
      kind: 'values',
      values: [
        { in: '(打开了|开着|拉开了)', out: 'open' },
        { in: '(关上了|关着|拉上了|关了)', out: 'closed' },
      ],
    },
    brightness: { kind: 'range', from: 0, to: 100 },
    position: { kind: 'range', from: 0, to: 100 },
    temperature: { kind: 'range', from: 0, to: 100 },
    volume: { kind: 'range', from: 0, to: 100 },
  },
  groups: [
    // 开关 by name
    { intent: 'HassTurnOn', sentences: ['<on><named>', '<let><named><on>'], requires: ON_OFF, response: '已打开{name}' },
    { intent: 'HassTurnOff', sentences: ['<off><named>', '<let><named><off>'], requires: ON_OFF, response: '已关闭{name}' },
    { intent: 'HassToggle', sentences: ['切换<named>[开关|状态]', '<let><named>切换[一下|开关|状态]'], requires: ON_OFF, response: '已切换{name}' },
    // by area
    {
      intent: 'HassTurnOn',
      sentences: ['<on><onoff_area>', '<let><onoff_area>[都|全]<on>'],
      requires: ON_OFF,
      response: '已打开{area}的{domain}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<off><onoff_area>', '<let><onoff_area>[都|全]<off>'],
      requires: ON_OFF,
      response: '已关闭{area}的{domain}',
    },
    { intent: 'HassToggle', sentences: ['切换<onoff_area>[开关|状态]'], requires: ON_OFF, response: '已切换{area}的{domain}' },
    // everywhere
    {
      intent: 'HassTurnOn',
      sentences: ['<on><all>{domain_onoff:domain}', '<let><all>{domain_onoff:domain}[都|全]<on>', '<let>{domain_onoff:domain}(都|全)<on>'],
      requires: ON_OFF,
      target: 'all',
      response: '已打开所有{domain}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<off><all>{domain_onoff:domain}', '<let><all>{domain_onoff:domain}[都|全]<off>', '<let>{domain_onoff:domain}(都|全)<off>'],
      requires: ON_OFF,
      target: 'all',
      response: '已关闭所有{domain}',
    },
    {
      intent: 'HassTurnOn',
      sentences: ['<on>{domain_onoff:domain}', '<let>{domain_onoff:domain}<on>'],
      requires: ON_OFF,
      target: 'all',
      useContextArea: true,
      response: '已打开{domain}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<off>{domain_onoff:domain}', '<let>{domain_onoff:domain}<off>'],
      requires: ON_OFF,
      target: 'all',
      useContextArea: true,
      response: '已关闭{domain}',
    },

    // 亮度
    {
      intent: 'HassLightSet',
      sentences: ['<let><named>[亮度]<set_to><brightness>', '(设置|调节|调整)<named>亮度(为|到)<brightness>', '<named>亮度<brightness>'],
      requires: { capability: 'brightness' },
      response: '已将{name}亮度调到{brightness}%',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><light_area>[亮度]<set_to><brightness>', '(设置|调节|调整)<light_area>亮度(为|到)<brightness>', '<let>{area}亮度<set_to><brightness>'],
      requires: { capability: 'brightness' },
      slots: { domain: 'light' },
      response: '已将{area}的{domain}亮度调到{brightness}%',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><named>(调|开|变)(暗|低)<bit>', '<named>暗<bit>', '(调暗|调低)<named>[亮度]', '<let><named>亮度(调|开)(暗|低)<bit>'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: -25 },
      response: '已调暗{name}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><light_area>(调|开|变)(暗|低)<bit>', '(调暗|调低)<light_area>[亮度]'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: -25, domain: 'light' },
      response: '已调暗{area}的{domain}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><named>(调|开|变)(亮|高)<bit>', '<named>亮<bit>', '(调亮|调高)<named>[亮度]', '<let><named>亮度(调|开)(亮|高)<bit>'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: 25 },
      response: '已调亮{name}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><light_area>(调|开|变)(亮|高)<bit>', '(调亮|调高)<light_area>[亮度]'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: 25, domain: 'light' },
      response: '已调亮{area}的{domain}',
    },

    // 颜色 / 色温
    {
      intent: 'HassLightSet',
      sentences: ['<let><named>[颜色](<set_to>|换成|变成|改成){color}[光]', '<named>[颜色]{color}'],
      requires: { capability: 'color' },
      response: '已将{name}调成{color}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><light_area>[颜色](<set_to>|换成|变成|改成){color}[光]'],
      requires: { capability: 'color' },
      slots: { domain: 'light' },
      response: '已将{area}的{domain}调成{color}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><named>[色温](<set_to>|换成|变成|改成){color_temp:colorTempK}', '<named>{color_temp:colorTempK}'],
      requires: { capability: 'colorTemp' },
      response: '已将{name}调成{colorTempK}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<let><light_area>[色温](<set_to>|换成|变成|改成){color_temp:colorTempK}'],
      requires: { capability: 'colorTemp' },
      slots: { domain: 'light' },
      response: '已将{area}的{domain}调成{colorTempK}',
    },

    // 窗帘
    {
      intent: 'HassOpenCover',
      sentences: ['(打开|拉开|开|升起)<named>', '<let><named>(打开|拉开|开|升起|拉起)[来]'],
      requires: { domains: ['cover'] },
      response: '已打开{name}',
    },
    {
      intent: 'HassOpenCover',
      sentences: ['(打开|拉开|开|升起)<cover_area>', '<let><cover_area>(打开|拉开|开|升起|拉起)[来]'],
      requires: { domains: ['cover'] },
      response: '已打开{area}的{domain}',
    },
    {
      intent: 'HassOpenCover',
      sentences: ['(打开|拉开|开|升起)[<all>]{domain_cover:domain}', '<let>[<all>]{domain_cover:domain}(打开|拉开|开|升起)'],
      requires: { domains: ['cover'] },
      target: 'all',
      useContextArea: true,
      response: '已打开{domain}',
    },
    {
      intent: 'HassCloseCover',
      sentences: ['(关上|关闭|拉上|合上|关|放下|降下)<named>', '<let><named>(关上|关闭|拉上|合上|关|关了|放下|降下)[来]'],
      requires: { domains: ['cover'] },
      response: '已关闭{name}',
    },
    {
      intent: 'HassCloseCover',
      sentences: ['(关上|关闭|拉上|合上|关|放下|降下)<cover_area>', '<let><cover_area>(关上|关闭|拉上|合上|关|关了|放下|降下)[来]'],
      requires: { domains: ['cover'] },
      response: '已关闭{area}的{domain}',
    },
    {
      intent: 'HassCloseCover',
      sentences: ['(关上|关闭|拉上|合上|关|放下|降下)[<all>]{domain_cover:domain}', '<let>[<all>]{domain_cover:domain}(关上|关闭|拉上|合上|关|关了|放下)'],
      requires: { domains: ['cover'] },
      target: 'all',
      useContextArea: true,
      response: '已关闭{domain}',
    },
    {
      intent: 'HassSetPosition',
      sentences: ['<let><named>(<set_to>|打开到|拉到|开|打开)[百分之]{position}[%]'],
      requires: { domains: ['cover'], capability: 'position' },
      response: '已将{name}开到{position}%',
    },
    {
      intent: 'HassSetPosition',
      sentences: ['<let><cover_area>(<set_to>|打开到|拉到)[百分之]{position}[%]'],
      requires: { domains: ['cover'], capability: 'position' },
      response: '已将{area}的{domain}开到{position}%',
    },
    {
      intent: 'HassSetPosition',
      sentences: ['<let><named>(打开|拉开|开)[到]一半', '(打开|拉开)一半<named>'],
      requires: { domains: ['cover'], capability: 'position' },
      slots: { position: 50 },
      response: '已将{name}打开一半',
    },

    // 温度
    {
      intent: 'HassClimateSetTemperature',
      sentences: ['<let><named>[温度]<set_to>{temperature}[<degrees>]', '<named>温度{temperature}[<degrees>]'],
      requires: { capability: 'setpoint' },
      response: '已将{name}设为{temperature}度',
    },
    {
      intent: 'HassClimateSetTemperature',
      sentences: ['<let><climate_area>[温度]<set_to>{temperature}[<degrees>]', '<let><in_area>温度<set_to>{temperature}[<degrees>]'],
      requires: { capability: 'setpoint' },
      response: '已将{area}温度设为{temperature}度',
    },
    {
      intent: 'HassClimateSetTemperature',
      sentences: ['<let>(温度|室温)<set_to>{temperature}[<degrees>]', '<let>{domain_climate:domain}[温度]<set_to>{temperature}[<degrees>]'],
      requires: { capability: 'setpoint' },
      target: 'all',
      useContextArea: true,
      response: '已将温度设为{temperature}度',
    },

    // 场景
    {
      intent: 'HassTurnOn',
      sentences: ['(打开|启动|开启|激活|切换到|进入|执行|开)[场景|模式]{name}[场景|模式]', '{name}(场景|模式)'],
      requires: { domains: ['scene'] },
      slots: { domain: 'scene' },
      response: '已启动{name}',
    },

    // 状态查询
    {
      intent: 'HassGetState',
      sentences: [
        '<named>[是][不是]{on_off_state:state}<query>',
        '<named>[是][不是]{cover_state:state}<query>',
        '<named>[是]什么状态',
        '<named>状态[是什么|怎么样|如何]',
        '<named>(开着|打开)(还是|或)(关着|关闭)[呢]',
      ],
      response: '{name}{current_state}',
    },
    {
      intent: 'HassGetState',
      sentences: ['<onoff_area>[都|全][是][不是]{on_off_state:state}<query>', '<cover_area>[都|全][是][不是]{cover_state:state}<query>'],
      response: '{area}的{domain}{current_state}',
    },

    // 音量 (the voice device's own speaker, via its MCP tool)
    {
      intent: 'DeviceSetVolume',
      sentences: ['<let>(音量|声音)<set_to>[百分之]{volume}[%]', '(音量|声音)[调]{volume}[%]', '(设置|调节)(音量|声音)(为|到)[百分之]{volume}[%]'],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL },
      response: '音量已调到{volume}',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: [
        '<let>(音量|声音)(调|开|放)(大|高)<bit>',
        '(音量|声音)(大|高)<bit>',
        '(调大|调高|提高|增大|加大|开大)(音量|声音)',
        '(大声|响)(一点|点|些)',
        '说话大声<bit>',
      ],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volumeStep: 10 },
      response: '好的，声音大一点',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: [
        '<let>(音量|声音)(调|开|放)(小|低)<bit>',
        '(音量|声音)(小|低)<bit>',
        '(调小|调低|降低|减小|关小)(音量|声音)',
        '(小声|轻)(一点|点|些)',
        '说话小声<bit>',
      ],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volumeStep: -10 },
      response: '好的，声音小一点',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: ['<let>(音量|声音)(调|开)(到|成)最大', '(音量|声音)最大', '最大(音量|声音)'],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volume: 100 },
      response: '音量已调到最大',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: ['静音', '<let>(音量|声音)(关掉|关了|关闭)'],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volume: 0 },
      response: '已静音',
    },
  ],
};
