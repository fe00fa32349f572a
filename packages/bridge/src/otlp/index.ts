/**
 * The OTLP codec (README.md): the protobuf and OTLP/JSON decoders for traces and logs (one set
 * of rejection rules for both), the responses and statuses receivers send, and the request as
 * it arrived (`RawRequest`, what the write-ahead log keeps). A leaf: it imports only the model.
 * Used by receive/ (answers), intake/ (decode), forward/ (encode), api/ (access events).
 */
export {
  decodeLogsJson,
  decodeLogsProtobuf,
  decodeTracesJson,
  decodeTracesProtobuf,
  OtlpDecodeError,
  u64ToDecimal,
  DEFAULT_DECODE_OPTIONS,
  TRUNCATED_ATTRIBUTE,
  type DecodedBatch,
  type DecodeOptions,
  type RejectCode,
  type RejectedItem,
} from './decode.ts';
export {
  encodeExportResponseJson,
  encodeExportResponseProtobuf,
  encodeRetryInfo,
  encodeStatusJson,
  encodeStatusProtobuf,
  RETRY_INFO_TYPE,
  type PartialSuccess,
  type SignalKind,
} from './encode.ts';
export {
  ExportLogsServiceRequest,
  ExportLogsServiceResponse,
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  otlpDescriptor,
  otlpRoot,
  RpcStatus,
} from './schema.ts';
export { decodeRequest, partialSuccess, wholeBody, type DecodedRequest, type Encoding, type RawRequest, type RequestAccess, type RequestBody, type Signal, type TelemetrySink } from './request.ts';
