/**
 * The cases `echod check` runs with `--udp`: datagrams of each size come back as one datagram,
 * intact; a burst all comes back (in any order); big datagrams are the server's buffer policy.
 */
import { bytesLong, count, difference, plural } from '../format.js';
import {
  type CheckCase,
  type CheckSettings,
  CaseStop,
  fail,
  filler,
  note,
  type Outcome,
  pass,
  required,
  seconds,
  unreachable,
} from './case.js';
import { unreachableReason } from '../connect-errors.js';
import { type ClientSet, DatagramClient } from './client.js';

const UDP_BURST = 100;
/** Datagram sizes every UDP echo must carry, and bigger ones whose fate is a buffer-size policy. */
const DATAGRAM_SIZES = [1, 64, 512, 1472];
const BIG_DATAGRAM_SIZES = [8192, 65_507];

async function udpClient(settings: CheckSettings, clients: ClientSet): Promise<DatagramClient> {
  const client = await DatagramClient.connect(settings.target, settings.timeoutMs);
  if (typeof client === 'string') throw new CaseStop(fail(client));
  return clients.add(client);
}

/** Sends one datagram (twice if the first gets no answer: UDP may lose one) and judges the echo. */
async function datagramRoundTrip(settings: CheckSettings, clients: ClientSet, payload: Buffer, policy: boolean): Promise<Outcome> {
  const client = await udpClient(settings, clients);
  let attempts = 0;
  let answered = false;
  while (!answered && attempts < 2 && client.error === null) {
    attempts++;
    client.send(payload);
    answered = await client.until(1, settings.timeoutMs);
  }
  if (client.error !== null) {
    const reason = `UDP error ${client.error.code ?? client.error.message}${client.error.code === 'ECONNREFUSED' ? ' (port unreachable: nothing listens there)' : ''}`;
    const why =
      client.error.code === 'ECONNREFUSED'
        ? 'ICMP port unreachable (ECONNREFUSED): nothing listens on that UDP port'
        : unreachableReason(client.error);
    return why !== null ? unreachable(reason, why) : fail(reason);
  }
  if (!answered) {
    const reason = `no echo of ${bytesLong(payload.length)} datagram (sent ${attempts} times, ${seconds(settings.timeoutMs)} each)`;
    return policy ? note(reason) : fail(reason);
  }
  const echoed = client.datagrams[0] as Buffer;
  const diff = difference(payload, echoed);
  const retried = attempts > 1 ? ' (on the second attempt)' : '';
  if (diff === null)
    return policy
      ? note(`${bytesLong(payload.length)} datagram came back intact${retried}`)
      : pass(`${plural(payload.length, 'byte')} back intact${retried}`);
  if (policy && echoed.length < payload.length && diff.offset === echoed.length)
    return note(`${bytesLong(payload.length)} datagram came back cut to ${count(echoed.length)} bytes (the server's buffer size)`);
  return fail(
    echoed.length !== payload.length
      ? `${bytesLong(payload.length)} datagram came back as ${count(echoed.length)} bytes: ${diff.summary}`
      : diff.summary,
    diff,
  );
}

function datagramPayload(size: number, binaryBytes: boolean): Buffer {
  const bytes = Buffer.alloc(size);
  if (binaryBytes) for (let i = 0; i < size; i++) bytes[i] = i % 256;
  else bytes.write(`datagram of ${size} bytes ${filler(size)}`.slice(0, size), 'latin1');
  return bytes;
}

/** The datagram cases, in the order they run. */
export const DATAGRAM_CASES: readonly CheckCase[] = [
  ...DATAGRAM_SIZES.map((size): CheckCase => ({
    name: `datagram-${size}`,
    title: `a datagram of ${count(size)} byte${size === 1 ? '' : 's'} comes back as one datagram, intact`,
    transport: 'datagram',
    policy: required,
    run: (settings, clients) => datagramRoundTrip(settings, clients, datagramPayload(size, false), false),
  })),
  {
    name: 'datagram-binary',
    title: 'a datagram of every byte value comes back unchanged',
    transport: 'datagram',
    policy: required,
    run: (settings, clients) => datagramRoundTrip(settings, clients, datagramPayload(512, true), false),
  },
  {
    name: 'datagram-burst',
    title: `${UDP_BURST} datagrams sent at once all come back`,
    transport: 'datagram',
    policy: required,
    async run(settings, clients) {
      const client = await udpClient(settings, clients);
      const sent = Array.from({ length: UDP_BURST }, (_, i) => Buffer.from(`burst datagram ${i + 1} of ${UDP_BURST} ${filler(24, i)}`));
      for (const datagram of sent) client.send(datagram);
      await client.until(UDP_BURST, settings.timeoutMs);
      if (client.error !== null) return fail(`UDP error ${client.error.code ?? client.error.message}`);
      const expected = new Map(sent.map((datagram, i) => [datagram.toString('latin1'), i]));
      let missing = UDP_BURST;
      let reordered = 0;
      let last = -1;
      const strangers: Buffer[] = [];
      for (const datagram of client.datagrams) {
        const index = expected.get(datagram.toString('latin1'));
        if (index === undefined) {
          strangers.push(datagram);
          continue;
        }
        expected.delete(datagram.toString('latin1'));
        missing--;
        if (index < last) reordered++;
        last = index;
      }
      const first = strangers[0];
      if (first !== undefined)
        return fail(
          `${plural(strangers.length, 'datagram')} came back that ${strangers.length === 1 ? 'was' : 'were'} not sent as such`,
          difference(sent[0] as Buffer, first),
        );
      if (missing > 0) return fail(`${missing} of ${UDP_BURST} datagrams never came back within ${seconds(settings.timeoutMs)}`);
      return pass(`all ${UDP_BURST} came back${reordered > 0 ? `, ${reordered} out of order (allowed for UDP)` : ', in order'}`);
    },
  },
  ...BIG_DATAGRAM_SIZES.map((size): CheckCase => ({
    name: `datagram-${size}`,
    title: `a datagram of ${count(size)} bytes`,
    transport: 'datagram',
    policy: () => true,
    run: (settings, clients) => datagramRoundTrip(settings, clients, datagramPayload(size, false), true),
  })),
];
