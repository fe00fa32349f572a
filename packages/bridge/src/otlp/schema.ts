/**
 * The OTLP protobuf schema (opentelemetry-proto v1.x), as a protobufjs JSON descriptor.
 *
 * No npm package ships the current .proto files, so the messages the bridge reads and writes
 * are declared here, field numbers copied from opentelemetry-proto. Only what the receiver
 * needs is declared: metrics and profiles are absent.
 *
 * The hot path (decode.ts) reads requests with a hand-written reader that follows these same
 * field numbers; this schema encodes the responses and serves as the reference decoder in
 * tests and the benchmark.
 */
import protobuf from 'protobufjs/light.js';

type Fields = Record<string, { type: string; id: number; rule?: 'repeated' }>;

const keyValues = (id: number) => ({ type: 'opentelemetry.proto.common.v1.KeyValue', id, rule: 'repeated' as const });

const common: Record<string, { fields: Fields; oneofs?: Record<string, { oneof: string[] }> }> = {
  AnyValue: {
    oneofs: {
      value: {
        oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'],
      },
    },
    fields: {
      stringValue: { type: 'string', id: 1 },
      boolValue: { type: 'bool', id: 2 },
      intValue: { type: 'int64', id: 3 },
      doubleValue: { type: 'double', id: 4 },
      arrayValue: { type: 'ArrayValue', id: 5 },
      kvlistValue: { type: 'KeyValueList', id: 6 },
      bytesValue: { type: 'bytes', id: 7 },
    },
  },
  ArrayValue: { fields: { values: { type: 'AnyValue', id: 1, rule: 'repeated' } } },
  KeyValueList: { fields: { values: { type: 'KeyValue', id: 1, rule: 'repeated' } } },
  KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
  InstrumentationScope: {
    fields: {
      name: { type: 'string', id: 1 },
      version: { type: 'string', id: 2 },
      attributes: { type: 'KeyValue', id: 3, rule: 'repeated' },
      droppedAttributesCount: { type: 'uint32', id: 4 },
    },
  },
};

const resource = {
  Resource: {
    fields: {
      attributes: keyValues(1),
      droppedAttributesCount: { type: 'uint32', id: 2 },
    },
  },
};

const RESOURCE = 'opentelemetry.proto.resource.v1.Resource';
const SCOPE = 'opentelemetry.proto.common.v1.InstrumentationScope';
const ANY_VALUE = 'opentelemetry.proto.common.v1.AnyValue';

const trace = {
  ResourceSpans: {
    fields: {
      resource: { type: RESOURCE, id: 1 },
      scopeSpans: { type: 'ScopeSpans', id: 2, rule: 'repeated' },
      schemaUrl: { type: 'string', id: 3 },
    },
  },
  ScopeSpans: {
    fields: {
      scope: { type: SCOPE, id: 1 },
      spans: { type: 'Span', id: 2, rule: 'repeated' },
      schemaUrl: { type: 'string', id: 3 },
    },
  },
  Span: {
    fields: {
      traceId: { type: 'bytes', id: 1 },
      spanId: { type: 'bytes', id: 2 },
      traceState: { type: 'string', id: 3 },
      parentSpanId: { type: 'bytes', id: 4 },
      flags: { type: 'fixed32', id: 16 },
      name: { type: 'string', id: 5 },
      kind: { type: 'int32', id: 6 }, // SpanKind enum; int32 keeps unknown values
      startTimeUnixNano: { type: 'fixed64', id: 7 },
      endTimeUnixNano: { type: 'fixed64', id: 8 },
      attributes: keyValues(9),
      droppedAttributesCount: { type: 'uint32', id: 10 },
      events: { type: 'Event', id: 11, rule: 'repeated' },
      droppedEventsCount: { type: 'uint32', id: 12 },
      links: { type: 'Link', id: 13, rule: 'repeated' },
      droppedLinksCount: { type: 'uint32', id: 14 },
      status: { type: 'Status', id: 15 },
    },
    nested: {
      Event: {
        fields: {
          timeUnixNano: { type: 'fixed64', id: 1 },
          name: { type: 'string', id: 2 },
          attributes: keyValues(3),
          droppedAttributesCount: { type: 'uint32', id: 4 },
        },
      },
      Link: {
        fields: {
          traceId: { type: 'bytes', id: 1 },
          spanId: { type: 'bytes', id: 2 },
          traceState: { type: 'string', id: 3 },
          attributes: keyValues(4),
          droppedAttributesCount: { type: 'uint32', id: 5 },
          flags: { type: 'fixed32', id: 6 },
        },
      },
    },
  },
  Status: {
    fields: {
      message: { type: 'string', id: 2 },
      code: { type: 'int32', id: 3 }, // StatusCode enum
    },
  },
};

const logs = {
  ResourceLogs: {
    fields: {
      resource: { type: RESOURCE, id: 1 },
      scopeLogs: { type: 'ScopeLogs', id: 2, rule: 'repeated' },
      schemaUrl: { type: 'string', id: 3 },
    },
  },
  ScopeLogs: {
    fields: {
      scope: { type: SCOPE, id: 1 },
      logRecords: { type: 'LogRecord', id: 2, rule: 'repeated' },
      schemaUrl: { type: 'string', id: 3 },
    },
  },
  LogRecord: {
    fields: {
      timeUnixNano: { type: 'fixed64', id: 1 },
      observedTimeUnixNano: { type: 'fixed64', id: 11 },
      severityNumber: { type: 'int32', id: 2 }, // SeverityNumber enum
      severityText: { type: 'string', id: 3 },
      body: { type: ANY_VALUE, id: 5 },
      attributes: keyValues(6),
      droppedAttributesCount: { type: 'uint32', id: 7 },
      flags: { type: 'fixed32', id: 8 },
      traceId: { type: 'bytes', id: 9 },
      spanId: { type: 'bytes', id: 10 },
      eventName: { type: 'string', id: 12 },
    },
  },
};

const collectorTrace = {
  ExportTraceServiceRequest: {
    fields: { resourceSpans: { type: 'opentelemetry.proto.trace.v1.ResourceSpans', id: 1, rule: 'repeated' } },
  },
  ExportTraceServiceResponse: { fields: { partialSuccess: { type: 'ExportTracePartialSuccess', id: 1 } } },
  ExportTracePartialSuccess: {
    fields: { rejectedSpans: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } },
  },
};

const collectorLogs = {
  ExportLogsServiceRequest: {
    fields: { resourceLogs: { type: 'opentelemetry.proto.logs.v1.ResourceLogs', id: 1, rule: 'repeated' } },
  },
  ExportLogsServiceResponse: { fields: { partialSuccess: { type: 'ExportLogsPartialSuccess', id: 1 } } },
  ExportLogsPartialSuccess: {
    fields: { rejectedLogRecords: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } },
  },
};

const rpc = {
  Status: {
    fields: {
      code: { type: 'int32', id: 1 },
      message: { type: 'string', id: 2 },
      details: { type: 'google.protobuf.Any', id: 3, rule: 'repeated' },
    },
  },
};

const any = { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } };

const v1 = (types: object) => ({ nested: { v1: { nested: types } } });

/** The protobufjs JSON descriptor of the OTLP messages. */
export const otlpDescriptor = {
  nested: {
    opentelemetry: {
      nested: {
        proto: {
          nested: {
            common: v1(common),
            resource: v1(resource),
            trace: v1(trace),
            logs: v1(logs),
            collector: { nested: { trace: v1(collectorTrace), logs: v1(collectorLogs) } },
          },
        },
      },
    },
    google: { nested: { rpc: { nested: rpc }, protobuf: { nested: any } } },
  },
};

export const otlpRoot: protobuf.Root = protobuf.Root.fromJSON(otlpDescriptor as protobuf.INamespace);

const type = (name: string): protobuf.Type => otlpRoot.lookupType(name);

export const ExportTraceServiceRequest = type('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
export const ExportTraceServiceResponse = type('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
export const ExportLogsServiceRequest = type('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
export const ExportLogsServiceResponse = type('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
export const RpcStatus = type('google.rpc.Status');
