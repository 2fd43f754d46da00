import t from 'tap';
import { DeadlineHeap } from '../../../src/gossip/deadline-heap.ts';

t.test('the earliest live deadline, stale entries dropped as they surface', async (t) => {
  const h = new DeadlineHeap();
  const live = new Map<string, number>();
  const current = (key: string): number | undefined => live.get(key);
  const set = (key: string, at: number): void => {
    live.set(key, at);
    h.push(at, key);
  };
  t.equal(h.peek(current), Infinity, 'empty');
  set('a', 30);
  set('b', 10);
  set('c', 20);
  set('b', 40); // b moved later: its entry at 10 is stale
  live.delete('c'); // c cancelled: its entry at 20 is stale
  t.equal(h.peek(current), 30, 'stale b@10 and c@20 are skipped');
  t.equal(h.size, 2, 'and dropped');
  t.same(h.popDue(35, current), ['a']);
  t.same(h.popDue(39, current), [], 'nothing else due yet');
  set('d', 40);
  set('e', 40);
  t.same(h.popDue(40, current), ['b', 'd', 'e'], 'equal deadlines in the order they were set');
  t.equal(h.size, 0);
  t.equal(h.peek(current), Infinity);
});
