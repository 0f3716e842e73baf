import type { IntentCatalogue, IntentEntity } from '../../src/intents';

const LIGHT = { onOff: true, brightness: true, colorTemp: true, color: true };

/** A small home in both languages; tests copy it before changing it. */
export function homeEntities(): IntentEntity[] {
  return [
    { id: 'light.kitchen', name: 'Kitchen Light', aliases: ['cooker light'], area: 'Kitchen', domain: 'light', capabilities: { ...LIGHT } },
    { id: 'light.kitchen_spots', name: 'Spotlights', aliases: [], area: 'Kitchen', domain: 'light', capabilities: { onOff: true, brightness: true } },
    { id: 'switch.kettle', name: 'Kettle', aliases: [], area: 'Kitchen', domain: 'switch', capabilities: { onOff: true } },
    { id: 'light.bedroom_lamp', name: 'Bedroom Lamp', aliases: ['bed lamp'], area: 'Bedroom', domain: 'light', capabilities: { onOff: true, brightness: true } },
    { id: 'light.bedroom_ceiling', name: 'Ceiling Light', aliases: [], area: 'Bedroom', domain: 'light', capabilities: { onOff: true, brightness: true } },
    { id: 'light.office_ceiling', name: 'Ceiling Light', aliases: [], area: 'Office', domain: 'light', capabilities: { onOff: true } },
    { id: 'light.lamp2', name: 'Lamp 2', aliases: [], area: 'Office', domain: 'light', capabilities: { onOff: true } },
    { id: 'fan.bedroom', name: 'Bedroom Fan', aliases: [], area: 'Bedroom', domain: 'fan', capabilities: { onOff: true } },
    { id: 'cover.garage', name: 'Garage Door', aliases: [], area: 'Garage', domain: 'cover', capabilities: { position: true } },
    { id: 'cover.bedroom_blinds', name: 'Bedroom Blinds', aliases: [], area: 'Bedroom', domain: 'cover', capabilities: { position: true } },
    { id: 'climate.hall', name: 'Thermostat', aliases: [], area: 'Hallway', domain: 'climate', capabilities: { onOff: true, setpoint: true } },
    { id: 'scene.movie', name: 'Movie', aliases: ['movie night', '观影'], domain: 'scene', capabilities: {} },
    { id: 'light.living_zh', name: '客厅灯', aliases: [], area: '客厅', domain: 'light', capabilities: { ...LIGHT } },
    { id: 'light.living_strip', name: '灯带', aliases: [], area: '客厅', domain: 'light', capabilities: { onOff: true, brightness: true } },
    { id: 'light.bedroom_zh', name: '卧室灯', aliases: [], area: '卧室', domain: 'light', capabilities: { onOff: true, brightness: true } },
    { id: 'light.bedside_zh', name: '床头灯', aliases: [], area: '卧室', domain: 'light', capabilities: { onOff: true, brightness: true } },
    { id: 'cover.living_curtain', name: '客厅窗帘', aliases: [], area: '客厅', domain: 'cover', capabilities: { position: true } },
    { id: 'climate.bedroom_ac', name: '卧室空调', aliases: [], area: '卧室', domain: 'climate', capabilities: { onOff: true, setpoint: true } },
    { id: 'switch.tv_zh', name: '电视插座', aliases: [], area: '客厅', domain: 'switch', capabilities: { onOff: true } },
    { id: 'scene.home_zh', name: '回家模式', aliases: [], domain: 'scene', capabilities: {} },
  ];
}

/** A catalogue over a mutable entity array (tests change it and call rebuild()). */
export function catalogueOf(entities: IntentEntity[], extraAreas: string[] = []): IntentCatalogue {
  return {
    entities: () => entities,
    areas: () => [...new Set([...entities.flatMap((e) => (e.area ? [e.area] : [])), ...extraAreas])],
  };
}

/** Ids of a match's entities, sorted. */
export function ids(match: { entities: { id: string }[] } | undefined): string[] {
  return (match?.entities ?? []).map((e) => e.id).sort();
}
