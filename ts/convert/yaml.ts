// Just enough YAML for NeMo's model_config.yaml: nested block mappings of scalars (lists, flow
// collections and anchors are kept as their text, never interpreted), and the reverse for the
// config written into an exported .nemo.

export type YamlValue = string | number | boolean | null | YamlMap;
export interface YamlMap {
  [key: string]: YamlValue;
}

function scalar(text: string): YamlValue {
  const s = text.replace(/\s+#.*$/, '').trim();
  if (s === '' || s === 'null' || s === '~') return null;
  if (s === 'true' || s === 'True') return true;
  if (s === 'false' || s === 'False') return false;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if ((s.startsWith("'") && s.endsWith("'")) || (s.startsWith('"') && s.endsWith('"'))) return s.slice(1, -1);
  return s;
}

/** Parse block mappings by indentation. */
export function parseYaml(text: string): YamlMap {
  const root: YamlMap = {};
  const stack: Array<{ indent: number; map: YamlMap }> = [{ indent: -1, map: root }];
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(raw) || /^\s*-/.test(raw) || raw.startsWith('---')) continue;
    const m = /^(\s*)([^:#]+?):(?:\s+(.*))?$/.exec(raw);
    if (!m) continue;
    const indent = m[1].length;
    while (stack.length > 1 && indent <= stack[stack.length - 1].indent) stack.pop();
    const parent = stack[stack.length - 1].map;
    const key = m[2].trim().replace(/^['"]|['"]$/g, '');
    const rest = m[3]?.replace(/\s+#.*$/, '').trim() ?? '';
    if (rest === '') {
      const child: YamlMap = {};
      parent[key] = child;
      stack.push({ indent, map: child });
    } else {
      parent[key] = scalar(rest);
    }
  }
  return root;
}

/** The first value under `key` at any depth (depth-first, document order). */
export function findKey(map: YamlMap, key: string): YamlValue | undefined {
  if (key in map) return map[key];
  for (const v of Object.values(map)) {
    if (v && typeof v === 'object') {
      const found = findKey(v, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Block-style YAML for nested maps of scalars. */
export function toYaml(map: YamlMap, indent = ''): string {
  return Object.entries(map)
    .map(([k, v]) => {
      if (v && typeof v === 'object') return `${indent}${k}:\n${toYaml(v, `${indent}  `)}`;
      const s = v === null ? 'null' : typeof v === 'string' && /[:#'"{}[\],&*!|>%@`]|^\s|\s$|^$/.test(v) ? JSON.stringify(v) : String(v);
      return `${indent}${k}: ${s}\n`;
    })
    .join('');
}
