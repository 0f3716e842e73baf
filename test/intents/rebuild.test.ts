import assert from 'node:assert/strict';
import { IntentMatcher } from '../../src/intents';
import { catalogueOf, homeEntities, ids } from './fixtures';

describe('intents/matcher rebuild', () => {
  it('picks up new, renamed, moved and removed entities without recompiling', () => {
    const entities = homeEntities();
    const matcher = new IntentMatcher({ languages: ['en', 'zh'], catalogue: catalogueOf(entities) });
    assert.equal(matcher.match('turn on the desk lamp'), undefined);
    assert.equal(matcher.match('打开书房台灯'), undefined);

    entities.push(
      { id: 'light.desk', name: 'Desk Lamp', aliases: [], area: 'Study', domain: 'light', capabilities: { onOff: true, brightness: true } },
      { id: 'light.study_zh', name: '书房台灯', aliases: [], area: '书房', domain: 'light', capabilities: { onOff: true } },
    );
    // Not yet: the matcher only sees the catalogue on rebuild().
    assert.equal(matcher.match('turn on the desk lamp'), undefined);
    matcher.rebuild();
    assert.deepEqual(ids(matcher.match('turn on the desk lamp')), ['light.desk']);
    assert.deepEqual(ids(matcher.match('turn off the lights in the study')), ['light.desk']);
    assert.deepEqual(ids(matcher.match('打开书房台灯')), ['light.study_zh']);

    // rename + move
    const desk = entities.find((e) => e.id === 'light.desk');
    assert.ok(desk);
    desk.name = 'Reading Light';
    desk.area = 'Bedroom';
    matcher.rebuild();
    assert.equal(matcher.match('turn on the desk lamp'), undefined);
    assert.deepEqual(ids(matcher.match('turn on the reading light')), ['light.desk']);
    assert.ok(ids(matcher.match('turn off the bedroom lights')).includes('light.desk'));

    // removal
    entities.splice(entities.indexOf(desk), 1);
    matcher.rebuild();
    assert.equal(matcher.match('turn on the reading light'), undefined);
    assert.ok(!ids(matcher.match('turn off the bedroom lights')).includes('light.desk'));
  });

  it('treats capability changes on rebuild', () => {
    const entities = homeEntities();
    const matcher = new IntentMatcher({ languages: ['en'], catalogue: catalogueOf(entities) });
    assert.equal(matcher.match('make the spotlights red'), undefined);
    const spots = entities.find((e) => e.id === 'light.kitchen_spots');
    assert.ok(spots);
    spots.capabilities.color = true;
    matcher.rebuild();
    assert.deepEqual(ids(matcher.match('make the spotlights red')), ['light.kitchen_spots']);
  });
});
