/** A small protobuf text-format parser for checking generated Triton configs (messages, repeated fields, lists). */
export type PbValue = string | number | PbMessage | PbValue[];
export interface PbMessage {
  [field: string]: PbValue[];
}

export function parsePbtxt(text: string): PbMessage {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/g) ?? [];
  let i = 0;
  const value = (): PbValue => {
    const t = tokens[i++];
    if (t === '{') return message('}');
    if (t === '[') {
      const list: PbValue[] = [];
      while (tokens[i] !== ']') {
        list.push(value());
        if (tokens[i] === ',') i++;
      }
      i++;
      return list;
    }
    if (t.startsWith('"')) return JSON.parse(t);
    return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
  };
  const message = (end?: string): PbMessage => {
    const m: PbMessage = {};
    while (i < tokens.length && tokens[i] !== end) {
      const key = tokens[i++];
      if (tokens[i] === ':') i++;
      const v = value();
      const items = Array.isArray(v) && tokens[i - 1] === ']' ? v : [v];
      m[key] = [...(m[key] ?? []), ...items];
    }
    i++;
    return m;
  };
  return message();
}
