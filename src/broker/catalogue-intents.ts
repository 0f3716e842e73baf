/**
 * The device catalogue as the intent matcher sees it (src/intents IntentCatalogue): the same
 * entities with boolean capability flags. The view is rebuilt only when the catalogue changes,
 * so matching thousands of sentences does not copy the entity list each time.
 */
import type { IntentCatalogue, IntentEntity } from '../intents/types';
import type { DeviceCatalogue } from './catalogue';
import type { CatalogueEntity } from './catalogue-types';

/** One catalogue entity in the matcher's shape. */
export function toIntentEntity(entity: CatalogueEntity): IntentEntity {
  const c = entity.capabilities;
  const capabilities: IntentEntity['capabilities'] = {};
  if (c.onOff) capabilities.onOff = true;
  if (c.brightness) capabilities.brightness = true;
  if (c.colorTemp) capabilities.colorTemp = true;
  if (c.color) capabilities.color = true;
  if (c.position) capabilities.position = true;
  if (c.setpoint) capabilities.setpoint = true;
  const view: IntentEntity = { id: entity.id, name: entity.name, aliases: entity.aliases, domain: entity.domain, capabilities };
  if (entity.area !== undefined) view.area = entity.area;
  return view;
}

/** A live IntentCatalogue over a DeviceCatalogue (follows its 'changed' events). */
export function intentCatalogueView(catalogue: DeviceCatalogue): IntentCatalogue & { dispose(): void } {
  let entities: IntentEntity[] | undefined;
  let areas: string[] | undefined;
  const invalidate = (): void => {
    entities = undefined;
    areas = undefined;
  };
  catalogue.on('changed', invalidate);
  return {
    entities: () => (entities ??= catalogue.entities().map(toIntentEntity)),
    areas: () => (areas ??= catalogue.areas()),
    dispose: () => {
      catalogue.off('changed', invalidate);
    },
  };
}
