/** forward/: the collector-processor hop (README.md). */
export { DEFAULT_FORWARD_QUEUE_BYTES, ForwardConfigError, parseForwardHeader, resolveForwardConfig, type ForwardConfig, type ForwardOptions } from './config.ts';
export { Forwarder, type ForwardPayload, type ForwardSink } from './forwarder.ts';
export { forwardLogs, forwardSpans } from './payload.ts';
export { EVENT_ID_ATTRIBUTE } from './internal/encode.ts';
