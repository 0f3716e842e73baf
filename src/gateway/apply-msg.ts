import { CloseCodes, type Session } from './session';
import { bufferToInt16 } from '../audio/pcm';
import { emotionFromText, EMOTIONS } from '../protocol/messages';

/** A flow msg as the out node receives it (plain data: ids, topic, payload). */
export interface SessionMsg {
  topic?: string;
  payload?: unknown;
  turn?: number;
  audio?: unknown;
  close?: unknown;
  [key: string]: unknown;
}

/** Coerce a number-ish value. */
function num(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : fallback;
}

/** msg.audio as flows set it. */
interface AudioMeta {
  encoding?: string;
  sampleRateHz?: number;
}

/** Chain events that may reach the out node and need nothing from it. */
const PASS_THROUGH_TOPICS = new Set([
  'session.start',
  'session.end',
  'listen.start',
  'listen.stop',
  'listen.detect',
  'abort',
  'speech.start',
  'utterance',
  'mcp.tools',
  'iot',
  'sentence',
  'reply.end',
  'say',
  'asr.phrases',
  'intent',
]);

/**
 * Map one msg onto a session call. Returns true if the msg was handled (or dropped as stale),
 * throws for bad msgs so done(err) reaches Catch nodes.
 */
export function applyToSession(session: Session, msg: SessionMsg): 'sent' | 'stale' {
  const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
  const text = (value: unknown) => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value));
  let ok = true;
  switch (msg.topic) {
    case 'stt':
      ok = session.sendStt(text(msg.payload), turn);
      break;
    case 'tts.start':
      ok = session.startSpeaking(turn);
      break;
    case 'tts.sentence':
      ok = session.queueSentence(text(msg.payload), turn);
      break;
    case 'audio': {
      const audio = (msg.audio ?? {}) as AudioMeta;
      const payload = msg.payload;
      if (audio.encoding === 'opus') {
        const frames = Array.isArray(payload) ? payload : [payload];
        if (!frames.every((f) => Buffer.isBuffer(f))) throw new Error('audio with encoding "opus" needs msg.payload as a Buffer or an array of Buffers');
        ok = session.queueOpus(frames as Buffer[], turn);
      } else {
        if (!Buffer.isBuffer(payload)) throw new Error('audio needs msg.payload as a Buffer of 16-bit PCM (or set msg.audio.encoding to "opus")');
        const rate = num(audio.sampleRateHz, 16000);
        if (rate < 8000 || rate > 48000) throw new Error(`msg.audio.sampleRateHz ${rate} is out of range 8000-48000`);
        ok = session.queuePcm(bufferToInt16(payload), rate, turn);
      }
      break;
    }
    case 'tts.stop':
      ok = session.finishSpeaking(turn, { closeAfter: msg.close === true });
      break;
    case 'tts.abort':
      session.abortSpeaking(text(msg.payload) || 'flow abort');
      break;
    case 'emotion': {
      const value = text(msg.payload);
      const found = EMOTIONS[value] !== undefined ? { emotion: value, emoji: EMOTIONS[value]! } : emotionFromText(value);
      if (!found) throw new Error(`unknown emotion "${value}"; use one of ${Object.keys(EMOTIONS).join(', ')}`);
      ok = session.sendEmotion(found.emotion, found.emoji, turn);
      break;
    }
    case 'alert': {
      const p = (msg.payload ?? {}) as { status?: unknown; message?: unknown; emotion?: unknown };
      session.sendAlert(text(p.status) || 'Info', text(p.message), text(p.emotion) || 'neutral');
      break;
    }
    case 'system':
      session.sendSystem(text(msg.payload) || 'reboot');
      break;
    case 'json':
      if (typeof msg.payload !== 'object' || msg.payload === null) throw new Error('json needs msg.payload as an object');
      session.send(msg.payload);
      break;
    case 'turn.begin':
      session.beginTurn();
      break;
    case 'close':
      session.close(CloseCodes.normal, text(msg.payload) || 'closed by flow');
      break;
    default:
      // Events that travel down the pipeline chain end here quietly (the gateway already acted on
      // a device abort; re-aborting would make the next turn stale).
      if (typeof msg.topic === 'string' && PASS_THROUGH_TOPICS.has(msg.topic)) return 'sent';
      throw new Error(
        `unknown msg.topic "${String(msg.topic)}"; use stt, tts.start, tts.sentence, audio, tts.stop, tts.abort, emotion, mcp.call, alert, system, json, turn.begin or close`,
      );
  }
  return ok ? 'sent' : 'stale';
}

