import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';

helper.init(require.resolve('node-red'));

type FlowNode = { id: string; type: string; z?: string; wires?: string[][]; [key: string]: unknown };

const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
/** Our node modules, loaded from the build the tests run from. */
const ourNodes = Object.keys(pkg['node-red'].nodes).map((name) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(join(__dirname, '..', '..', 'nodes', name, `${name}.js`)),
);
const core = (file: string) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [require.resolve('node-red')] }));
const coreNodes = [core('function/10-function.js'), core('function/15-change.js'), core('function/10-switch.js'), core('common/21-debug.js'), core('common/90-comment.js'), core('common/20-inject.js')];

const flowFiles = [
  ...readdirSync(join(process.cwd(), 'examples')).map((f) => join('examples', f)),
  ...readdirSync(join(process.cwd(), 'flows')).map((f) => join('flows', f)),
].filter((f) => f.endsWith('.json'));

describe('example flows and the default flow', function () {
  this.timeout(30_000);

  before((done) => {
    helper.startServer(done);
  });
  after((done) => {
    helper.stopServer(done);
  });
  afterEach(() => helper.unload());

  it('there are examples for each scenario', () => {
    assert.ok(flowFiles.filter((f) => f.startsWith('examples')).length >= 5);
  });

  for (const file of flowFiles) {
    it(`${file}: valid structure, starts with a comment node, loads in Node-RED`, async () => {
      const flow = JSON.parse(readFileSync(join(process.cwd(), file), 'utf8')) as FlowNode[];
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length, 'ids unique');
      const tab = flow.find((n) => n.type === 'tab');
      assert.ok(tab, 'has a tab');
      const onTab = flow.filter((n) => n.z === tab.id);
      assert.equal(onTab[0]?.type, 'comment', 'the first node on the tab is a comment node');
      for (const n of flow) {
        for (const out of n.wires ?? []) for (const target of out) assert.ok(ids.has(target), `${n.id} wires to missing ${target}`);
        for (const key of ['server', 'endpoint']) {
          const ref = n[key];
          if (typeof ref === 'string' && ref !== '') assert.ok(ids.has(ref), `${n.id}.${key} refers to missing config ${ref}`);
        }
      }
      // Load it for real with port 0 so examples don't fight over 8000.
      const runnable = flow.map((n) => {
          const copy: FlowNode = { ...n };
          if (copy.type === 'xiaozhi-server') Object.assign(copy, { port: 0, host: '127.0.0.1', publicUrl: '' });
          if (copy.type === 'xiaozhi-broker') Object.assign(copy, { port: 0, host: '127.0.0.1', wsMode: 'off' });
          for (const [k, v] of Object.entries(copy)) if (typeof v === 'string' && /^\$\{\w+\}$/.test(v)) copy[k] = '';
          return copy;
        });
      await helper.load([...ourNodes, ...coreNodes], runnable);
      // Comment nodes have no runtime object; everything else must have been created.
      for (const n of runnable.filter((x) => x.type !== 'comment' && x.type !== 'tab')) assert.ok(helper.getNode(n.id), `${n.type} ${n.id} was created`);
    });
  }
});
