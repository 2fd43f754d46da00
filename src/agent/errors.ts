/**
 * Agent error codes: what `shoal doctor`, the agent's local API and its start-up report.
 * Codes are API (CLI output, JSON bodies, docs): never renamed or reused. The task
 * runtime's own codes are in tasks/errors.ts.
 */
import { defineErrorCodes } from '../common/errors.ts';

export const AGENT_ERRORS = defineErrorCodes('Agent', {
  SHOAL_ERR_AGENT_UNREACHABLE: ['unavailable', "no agent answers on the data directory's socket (not running, or another data directory)"],
  SHOAL_ERR_AGENT_BAD_REQUEST: ['invalid', 'a local API request with a missing or malformed field'],
  SHOAL_ERR_AGENT_NO_TASK: ['not_found', 'no running task or container of that ID or name on this node'],
  SHOAL_ERR_AGENT_NOT_SYNCING: [
    'unavailable',
    '`doctor --repair`: a part of the data plane the agent has not started programming yet (it waits for the manager or gossip)',
  ],
});

export type AgentErrorCode = (typeof AGENT_ERRORS.codes)[number];

export const agentError = AGENT_ERRORS.error;
