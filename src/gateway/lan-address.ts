import { networkInterfaces } from 'node:os';

/**
 * This machine's address as seen from the LAN, for URLs handed to devices. Never 0.0.0.0; private
 * ranges first, docker/bridge interfaces last; 127.0.0.1 only if nothing else exists.
 */
export function lanAddress(): string {
  const candidates: Array<{ address: string; score: number }> = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    for (const info of addresses ?? []) {
      if (info.family !== 'IPv4' || info.internal) continue;
      let score = 0;
      if (/^(docker|br-|veth|virbr|cni|flannel|kube)/.test(name)) score -= 10;
      if (/^192\.168\./.test(info.address)) score += 3;
      else if (/^10\./.test(info.address)) score += 2;
      else if (/^172\.(1[6-9]|2\d|3[01])\./.test(info.address)) score += 1;
      candidates.push({ address: info.address, score });
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  return candidates[0]?.address ?? '127.0.0.1';
}

/** True for addresses a device on the LAN cannot use to reach us. */
export function isUnreachableHost(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}
