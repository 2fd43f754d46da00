/**
 * Task runtime error codes. Codes are API (CLI output, gRPC details, docs): never renamed
 * or reused. A task's own failure (its command exits non-zero, its health check fails) is
 * not an error: it is an event. These codes are for the callers of TaskRuntime (the agent)
 * when a request cannot be carried out.
 */
import { defineErrorCodes } from '../../common/errors.ts';

export const TASK_ERRORS = defineErrorCodes('Task runtime', {
  SHOAL_ERR_TASK_EMPTY_COMMAND: ['invalid', 'a task or container with no command to run (empty argv, or an empty program name)'],
  SHOAL_ERR_TASK_BAD_SPEC: [
    'invalid',
    'a process spec with a bad field: an id that is not a plain file name, an env entry without `=`, a bad hostname, or a health test other than CMD, CMD-SHELL or NONE',
  ],
  SHOAL_ERR_TASK_NO_RECORD: ['not_found', 'a task or container this node does not run and has no record of'],
  SHOAL_ERR_TASK_NOT_RUNNING: ['not_found', 'exec into a task or container whose process has ended'],
  SHOAL_ERR_TASK_RUNNING: ['precondition', 'removing a task or container whose process is still running (stop it first)'],
  SHOAL_ERR_TASK_START_FAILED: [
    'internal',
    "the task's sandbox could not be set up (entering the namespace, mounting resolv.conf or hosts, setting the hostname) or its process did not start; the log's last lines are attached",
  ],
  SHOAL_ERR_TASK_STOP_TIMEOUT: ['unavailable', 'a task that was sent SIGKILL and still had not ended (a process stuck in the kernel)'],
  SHOAL_ERR_TASK_EXEC_TIMEOUT: ['unavailable', 'a command run inside a task that did not finish within its timeout and was killed'],
  SHOAL_ERR_TASK_EXEC_FAILED: ['internal', "a command could not be run inside a task's namespaces (nsenter failed before running it)"],
  SHOAL_ERR_TASK_TOOL_MISSING: [
    'unavailable',
    'a tool the task runtime needs (nsenter, unshare, setsid, mount, sh from util-linux and dash) is not installed',
  ],
  SHOAL_ERR_TASK_SIGNAL: ['internal', "a signal could not be sent to a task's processes (errno in the details)"],
  SHOAL_ERR_TASK_RECORD: ['internal', "a task's record in the data directory cannot be read or written"],
});

export type TaskErrorCode = (typeof TASK_ERRORS.codes)[number];

/** Builds an error with one of the Task runtime codes. */
export const taskError = TASK_ERRORS.error;
