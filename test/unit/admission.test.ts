// The admission rules on their own (src/server/admission.ts: no sockets): capacity counts held
// and open sockets together; the per-address limit counts them from hold, under the socket's
// address until identify() moves them; refusals count nothing and free what they refuse;
// release is idempotent; every sequence of operations leaves the counts equal to a model's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionControl, Slot } from '../../src/server/admission.js';

const A = '192.0.2.1';
const B = '198.51.100.2';
const C = '203.0.113.3';

function held(result: Slot | string): Slot {
  assert.ok(result instanceof Slot, `held, not refused (${typeof result === 'string' ? result : 'a slot'})`);
  return result;
}

describe('AdmissionControl', () => {
  describe('maxConnections', () => {
    it('counts held and open sockets together', () => {
      const control = new AdmissionControl({ maxConnections: 3, maxConnectionsPerIp: 0 });
      const first = held(control.hold(A));
      assert.equal(control.admitNow(B), null);
      const third = held(control.hold(C));
      assert.equal(control.hold(A), 'max_connections');
      assert.equal(control.admitNow(B), 'max_connections');
      assert.deepEqual([control.held, control.open], [2, 1]);
      control.release(first);
      assert.equal(control.admit(third, C), null);
      assert.deepEqual([control.held, control.open], [0, 2]);
      held(control.hold(A));
    });

    it('0 means no limit', () => {
      const control = new AdmissionControl({ maxConnections: 0, maxConnectionsPerIp: 0 });
      for (let i = 0; i < 1000; i++) held(control.hold(A));
      assert.equal(control.held, 1000);
    });

    it('a full server refuses before looking at the address', () => {
      const control = new AdmissionControl({ maxConnections: 1, maxConnectionsPerIp: 1 });
      held(control.hold(A));
      assert.equal(control.hold(A), 'max_connections');
    });
  });

  describe('maxConnectionsPerIp', () => {
    it('counts a held socket under its own address from hold', () => {
      const control = new AdmissionControl({ maxConnections: 100, maxConnectionsPerIp: 2 });
      held(control.hold(A));
      held(control.hold(A));
      assert.equal(control.hold(A), 'max_connections_per_ip');
      assert.equal(control.admitNow(A), 'max_connections_per_ip');
      held(control.hold(B));
      assert.equal(control.countOf(A), 2);
      assert.equal(control.held, 3, 'a refusal counts nothing');
    });

    it('identify() moves the count to the named client, re-checked there', () => {
      const control = new AdmissionControl({ maxConnections: 100, maxConnectionsPerIp: 1 });
      const balancer = held(control.hold(A));
      assert.equal(control.identify(balancer, B), null);
      assert.deepEqual([control.countOf(A), control.countOf(B)], [0, 1]);
      assert.equal(balancer.address, B);
      // The balancer's address has room again; the next client it names as B does not.
      const next = held(control.hold(A));
      assert.equal(control.identify(next, B), 'max_connections_per_ip');
      assert.equal(next.state, 'released', 'refused at identify: released');
      assert.deepEqual([control.held, control.countOf(A), control.countOf(B)], [1, 0, 1]);
    });

    it('identify() with the same address changes nothing', () => {
      const control = new AdmissionControl({ maxConnections: 100, maxConnectionsPerIp: 1 });
      const slot = held(control.hold(A));
      assert.equal(control.identify(slot, A), null);
      assert.equal(control.countOf(A), 1);
    });

    it('admit() under another address identifies first', () => {
      const control = new AdmissionControl({ maxConnections: 100, maxConnectionsPerIp: 1 });
      const slot = held(control.hold(A));
      assert.equal(control.admit(slot, B), null);
      assert.deepEqual([control.countOf(A), control.countOf(B), control.open], [0, 1, 1]);
      control.close(B);
      assert.deepEqual([control.countOf(B), control.open], [0, 0]);
    });

    it("'' (a peer gone before accept) counts against capacity only", () => {
      const control = new AdmissionControl({ maxConnections: 3, maxConnectionsPerIp: 1 });
      held(control.hold(''));
      held(control.hold(''));
      assert.equal(control.countOf(''), 0);
      assert.equal(control.held, 2);
    });

    it('without a per-address limit no address is counted', () => {
      const control = new AdmissionControl({ maxConnections: 0, maxConnectionsPerIp: 0 });
      const slot = held(control.hold(A));
      assert.equal(control.identify(slot, B), null);
      assert.equal(control.countOf(B), 0);
    });
  });

  describe('refuseRate', () => {
    it('refuses at admit by the dice, releasing the slot', () => {
      const rolls = [0.05, 0.95];
      const control = new AdmissionControl({ maxConnections: 10, maxConnectionsPerIp: 1 }, () => rolls.shift() ?? 1);
      const slot = held(control.hold(A));
      assert.equal(control.admit(slot, A, 0.1), 'fault_refused');
      assert.equal(slot.state, 'released');
      assert.deepEqual([control.held, control.open, control.countOf(A)], [0, 0, 0]);
      assert.equal(control.admitNow(A, 0.1), null);
      assert.equal(control.open, 1);
    });

    it('0 never rolls', () => {
      const control = new AdmissionControl({ maxConnections: 0, maxConnectionsPerIp: 0 }, () => assert.fail('rolled'));
      assert.equal(control.admitNow(A, 0), null);
    });
  });

  describe('release()', () => {
    it('is harmless to repeat, and after admission or refusal', () => {
      const control = new AdmissionControl({ maxConnections: 2, maxConnectionsPerIp: 2 });
      const slot = held(control.hold(A));
      control.release(slot);
      control.release(slot);
      assert.deepEqual([control.held, control.countOf(A)], [0, 0]);
      const served = held(control.hold(A));
      assert.equal(control.admit(served, A), null);
      control.release(served);
      assert.deepEqual([control.held, control.open, control.countOf(A)], [0, 1, 1]);
    });

    it('a released or admitted slot cannot be identified or admitted again', () => {
      const control = new AdmissionControl({ maxConnections: 2, maxConnectionsPerIp: 2 });
      const slot = held(control.hold(A));
      control.release(slot);
      assert.equal(control.identify(slot, B), 'max_connections');
      assert.equal(control.admit(slot, A), 'max_connections');
      const open = held(control.hold(A));
      assert.equal(control.admit(open, A), null);
      assert.equal(control.admit(open, A), 'max_connections');
      assert.deepEqual([control.held, control.open], [0, 1]);
    });
  });

  it('any sequence of operations keeps the counts equal to a model and within the limits', () => {
    // A small deterministic generator, so a failure reproduces.
    let seed = 14;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const addresses = [A, B, C, ''];
    for (const limits of [
      { maxConnections: 5, maxConnectionsPerIp: 2 },
      { maxConnections: 0, maxConnectionsPerIp: 1 },
      { maxConnections: 3, maxConnectionsPerIp: 0 },
    ]) {
      const control = new AdmissionControl(limits, () => next(100) / 100);
      const slots: Slot[] = [];
      const open: string[] = [];
      for (let step = 0; step < 5000; step++) {
        const address = addresses[next(addresses.length)] as string;
        const slot = slots[next(slots.length + 1)];
        switch (next(6)) {
          case 0: {
            const result = control.hold(address);
            if (result instanceof Slot) slots.push(result);
            break;
          }
          case 1:
            if (slot !== undefined) control.identify(slot, address);
            break;
          case 2:
            if (slot !== undefined && control.admit(slot, address, 0.2) === null) open.push(slot.address);
            break;
          case 3:
            if (slot !== undefined) control.release(slot);
            break;
          case 4: {
            const gone = open.splice(next(open.length + 1), 1)[0];
            if (gone !== undefined) control.close(gone);
            break;
          }
          default:
            if (control.admitNow(address) === null) open.push(address);
        }
        const live = slots.filter((s) => s.state === 'held');
        assert.equal(control.held, live.length);
        assert.equal(control.open, open.length);
        if (limits.maxConnections > 0) assert.ok(control.held + control.open <= limits.maxConnections);
        for (const each of [A, B, C]) {
          const expected =
            limits.maxConnectionsPerIp === 0 ? 0 : live.filter((s) => s.address === each).length + open.filter((a) => a === each).length;
          assert.equal(control.countOf(each), expected, `count of ${each} at step ${step}`);
          if (limits.maxConnectionsPerIp > 0) assert.ok(expected <= limits.maxConnectionsPerIp);
        }
      }
    }
  });
});
