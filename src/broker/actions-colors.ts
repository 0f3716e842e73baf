/**
 * Colour words and colour temperature words (English and Chinese) -> values the actions send.
 */

/** An RGB colour with its spoken names. */
export interface NamedColor {
  hex: string;
  r: number;
  g: number;
  b: number;
  en: string;
  zh: string;
}

const COLORS: Array<[string, string, string[]]> = [
  // hex, english name, other names (first Chinese one is the spoken one)
  ['#ff0000', 'red', ['红色', '红']],
  ['#00ff00', 'green', ['绿色', '绿']],
  ['#0000ff', 'blue', ['蓝色', '蓝']],
  ['#ffffff', 'white', ['白色', '白']],
  ['#ffff00', 'yellow', ['黄色', '黄']],
  ['#ffa500', 'orange', ['橙色', '橙', '橘色']],
  ['#800080', 'purple', ['紫色', '紫', 'violet']],
  ['#ffc0cb', 'pink', ['粉色', '粉红色', '粉红']],
  ['#00ffff', 'cyan', ['青色', '青', 'aqua', 'turquoise']],
  ['#ff00ff', 'magenta', ['品红色', '洋红色', '洋红']],
  ['#ffb46b', 'warm white', ['暖白色', '暖白']],
];

function toRgb(hex: string): { r: number; g: number; b: number } {
  const n = Number.parseInt(hex.slice(1), 16);
  return { r: (n >> 16) & 0xff, g: (n >> 8) & 0xff, b: n & 0xff };
}

/**
 * Resolve a colour given as a word ("red", "红色") or as `#rrggbb`/`rrggbb`. Undefined when not
 * recognised.
 */
export function resolveColor(value: unknown): NamedColor | undefined {
  if (typeof value !== 'string') return undefined;
  const word = value.trim().toLowerCase();
  const hex = /^#?([0-9a-f]{6})$/.exec(word);
  if (hex?.[1]) {
    const h = `#${hex[1]}`;
    const known = COLORS.find(([c]) => c === h);
    return { hex: h, ...toRgb(h), en: known?.[1] ?? h, zh: known?.[2][0] ?? h };
  }
  for (const [h, en, others] of COLORS) {
    if (word === en || others.includes(word)) return { hex: h, ...toRgb(h), en, zh: others[0] ?? en };
  }
  return undefined;
}

/** RGB (0-255) -> hue (0-360) and saturation (0-100), for HA hs commands. */
export function rgbToHs(r: number, g: number, b: number): { h: number; s: number } {
  const max = Math.max(r, g, b) / 255;
  const min = Math.min(r, g, b) / 255;
  const d = max - min;
  let h = 0;
  if (d > 0) {
    const rn = r / 255;
    const gn = g / 255;
    const bn = b / 255;
    if (max === rn) h = ((gn - bn) / d) % 6;
    else if (max === gn) h = (bn - rn) / d + 2;
    else h = (rn - gn) / d + 4;
    h *= 60;
    if (h < 0) h += 360;
  }
  const s = max === 0 ? 0 : (d / max) * 100;
  return { h: Math.round(h * 10) / 10, s: Math.round(s * 10) / 10 };
}

/** RGB (0-255, sRGB) -> CIE 1931 xy, for HA xy commands. */
export function rgbToXy(r: number, g: number, b: number): { x: number; y: number } {
  const lin = (c: number): number => {
    const v = c / 255;
    return v > 0.04045 ? ((v + 0.055) / 1.055) ** 2.4 : v / 12.92;
  };
  const R = lin(r);
  const G = lin(g);
  const B = lin(b);
  const X = R * 0.4124 + G * 0.3576 + B * 0.1805;
  const Y = R * 0.2126 + G * 0.7152 + B * 0.0722;
  const Z = R * 0.0193 + G * 0.1192 + B * 0.9505;
  const sum = X + Y + Z;
  if (sum === 0) return { x: 0.3127, y: 0.329 };
  return { x: Math.round((X / sum) * 10000) / 10000, y: Math.round((Y / sum) * 10000) / 10000 };
}

/**
 * Resolve a colour temperature to mireds within [minMireds, maxMireds]: a number >= 1000 is
 * kelvin, a smaller number is mireds; words warm/neutral/cool (and 暖/中性/冷 forms) pick the
 * warm end, the middle or the cool end. Undefined when not understood.
 */
export function resolveColorTempMireds(value: unknown, minMireds: number, maxMireds: number): number | undefined {
  const clamp = (m: number): number => Math.min(maxMireds, Math.max(minMireds, Math.round(m)));
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value.trim().replace(/k$/i, '')) : NaN;
  if (Number.isFinite(n) && n > 0) return clamp(n >= 1000 ? 1_000_000 / n : n);
  if (typeof value !== 'string') return undefined;
  const word = value.trim().toLowerCase();
  if (['warm', 'warmest', 'warm white', 'soft', '暖', '暖光', '暖色', '暖白', '暖黄'].includes(word)) return maxMireds;
  if (['cool', 'cold', 'coolest', 'cool white', 'daylight', '冷', '冷光', '冷色', '冷白', '白光'].includes(word)) return minMireds;
  if (['neutral', 'natural', 'medium', '中性', '中性光', '自然光'].includes(word)) return clamp((minMireds + maxMireds) / 2);
  return undefined;
}
