/**
 * This machine's agent, as the API commands ask it: its local socket
 * (DATA-DIR/agent.sock) answers GET /info with the node it runs as and its data-plane
 * summary. `node ps` uses it to know which node "this node" is (Docker's `self`), `info`
 * for the node's part of its report. The agent's client is loaded only when a command
 * asks, so commands that never need the agent load nothing of it.
 */
import type { NodeInfo } from '../agent/node-info.ts';
import { dataDirPaths, resolveDataDir } from '../api/data-dir.ts';

/** How long to wait for the local agent: it answers from memory, so a slow answer means trouble. */
const LOCAL_AGENT_TIMEOUT_MS = 5_000;

/** Finds this machine's agent summary; undefined when no agent answers in the data dir. */
export type LocalAgentProbe = (dataDir: string | undefined, env: Readonly<Record<string, string | undefined>>) => Promise<LocalAgent>;

export interface LocalAgent {
  /** The socket asked. */
  socket: string;
  /** The agent's answer, or undefined with `why` when it could not be asked. */
  info: NodeInfo | undefined;
  why: string;
}

export function localAgentSocket(dataDir: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return dataDirPaths(resolveDataDir(dataDir, env as NodeJS.ProcessEnv)).agentSocket;
}

/** Asks the agent on DATA-DIR/agent.sock for GET /info. Never throws: a failure is `why`. */
export const probeLocalAgent: LocalAgentProbe = async (dataDir, env) => {
  const socket = localAgentSocket(dataDir, env);
  try {
    const { localApiRequest } = await import('../agent/local-client.ts');
    const { status, body } = await localApiRequest(socket, 'GET', '/info', undefined, LOCAL_AGENT_TIMEOUT_MS);
    if (status !== 200) {
      const e = body as { code?: string; message?: string };
      return { socket, info: undefined, why: `the agent answered ${status}: ${e.message ?? ''} (${e.code ?? 'no code'})` };
    }
    return { socket, info: body as NodeInfo, why: '' };
  } catch (err) {
    return { socket, info: undefined, why: err instanceof Error ? err.message : String(err) };
  }
};
