/**
 * The pure parts of src/kernel/nft-lib.ts: the tool's arguments for each kind of call (what
 * messages show, and what the exec backend runs), and how SHOAL_NFT and the backend option
 * choose the backend. The library itself is tested on the kernel (test/kernel/nft-lib).
 */
import t from 'tap';
import { nftBackend, nftCallArgs } from '../../../src/kernel/nft-lib.ts';

t.test('each call is the tool command it replaces', async (t) => {
  t.same(nftCallArgs({ json: false, handles: false, script: 'add table ip x' }), ['-f', '-']);
  t.same(nftCallArgs({ json: true, handles: false, script: '{"nftables": []}' }, '/tmp/d/tx.json'), ['-j', '-f', '/tmp/d/tx.json']);
  t.same(nftCallArgs({ json: true, handles: false, words: ['list', 'table', 'inet', 'shoal'] }), ['-j', 'list', 'table', 'inet', 'shoal']);
  t.same(nftCallArgs({ json: true, handles: false, words: ['list', 'tables'] }), ['-j', 'list', 'tables']);
  t.same(nftCallArgs({ json: false, handles: false, words: ['delete', 'table', 'ip', 'x'] }), ['delete', 'table', 'ip', 'x']);
  t.same(nftCallArgs({ json: false, handles: true, words: ['list', 'table', 'ip', 'x'] }), ['-a', 'list', 'table', 'ip', 'x']);
});

t.test('SHOAL_NFT=exec and the exec option choose the tool without loading anything', async (t) => {
  t.equal(nftBackend(undefined, { SHOAL_NFT: 'exec' }), 'exec');
  t.equal(nftBackend('exec', {}), 'exec');
  t.equal(nftBackend('exec', { SHOAL_NFT: 'bogus' }), 'exec', 'the option wins; the variable is not read');
});

t.test('an unknown SHOAL_NFT is refused with the values it takes', async (t) => {
  for (const v of ['nft', 'EXEC', 'lib', ' ']) {
    t.throws(() => nftBackend(undefined, { SHOAL_NFT: v }), {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      message: `SHOAL_NFT=${JSON.stringify(v)} is not one of library, exec (or unset)`,
    });
  }
});
