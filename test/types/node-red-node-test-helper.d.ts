// Minimal typings for the parts of node-red-node-test-helper our tests use.
declare module 'node-red-node-test-helper' {
  interface TestNode {
    on(event: 'input', handler: (msg: Record<string, unknown>) => void): void;
    receive(msg: Record<string, unknown>): void;
    [key: string]: unknown;
  }
  interface Helper {
    init(nodeRedRuntimePath: string, settings?: Record<string, unknown>): void;
    load(nodes: unknown, flow: object[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): TestNode;
    startServer(done: () => void): void;
    stopServer(done: () => void): void;
    settings(settings: Record<string, unknown>): void;
  }
  const helper: Helper;
  export default helper;
}
