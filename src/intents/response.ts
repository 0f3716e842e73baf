/**
 * Response templates: `{key}` is replaced by the value of that key; a key with no value stays
 * as written, so a later stage can fill what only it knows (`{current_state}` of a query).
 */

/** Render a response template. */
export function renderResponse(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{([\p{L}\p{N}_.-]+)\}/gu, (whole, key: string) => {
    const value = values[key];
    return value === undefined ? whole : String(value);
  });
}

/** Join names as a sentence does: "a", "a and b", "a, b and c" / "甲", "甲和乙", "甲、乙和丙". */
export function joinNames(names: readonly string[], language: 'en' | 'zh'): string {
  if (names.length <= 1) return names[0] ?? '';
  const head = names.slice(0, -1);
  const last = names[names.length - 1] as string;
  return language === 'zh' ? `${head.join('、')}和${last}` : `${head.join(', ')} and ${last}`;
}
