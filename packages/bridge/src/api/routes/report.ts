/**
 * GET /api/v1/report: a compliance report (report/, docs/compliance.md) over the caller's
 * tenants, as Markdown or HTML. HTTP only: the figures, the frameworks and the rendering
 * belong to report/, the figures' SQL to the store (store/report-figures.ts).
 */
import { tenantScope } from '../../auth/index.ts';
import type { Checkpointer } from '../../chain/checkpointer.ts';
import { chTime } from '../../detect/index.ts';
import { parseTimeArg } from '../../internal/time.ts';
import { buildReport, FRAMEWORK_IDS, renderHtml, renderMarkdown, ReportError, type FrameworkId } from '../../report/index.ts';
import { figureRows } from '../../store/index.ts';
import { errors } from '../schemas.ts';
import { ApiError, principalOf, type ApiContext } from '../server.ts';

const TIME = { type: 'string', maxLength: 64, description: 'ISO 8601, "YYYY-MM-DD hh:mm:ss" (UTC), or a duration ago: 15m, 2h, 7d' };

export function registerReportRoutes(ctx: ApiContext, deps: { checkpointers: Map<string, Checkpointer> }): void {
  const { api, store, privacy } = ctx;
  api.route({
    method: 'GET',
    url: '/api/v1/report',
    config: { access: 'reader', what: 'read compliance reports' },
    schema: {
      summary: 'A compliance report: the evidence the trail holds for a framework\'s logging requirements over a period, and the gaps',
      description:
        'Over the caller\'s tenants. format=markdown (default), html (a self-contained page), or json: {framework, title, from, to, gaps, markdown, html}. ' +
        'Every figure is printed with the query that re-derives it.',
      tags: ['reports'],
      querystring: {
        type: 'object',
        properties: { framework: { type: 'string', enum: [...FRAMEWORK_IDS] }, from: TIME, to: TIME, format: { type: 'string', enum: ['markdown', 'html', 'json'] } },
        required: ['framework', 'from'],
        additionalProperties: false,
      },
      response: {
        200: {
          description: 'format=json; markdown and html answer the report itself (text/markdown, text/html)',
          type: 'object',
          properties: {
            framework: { type: 'string' },
            title: { type: 'string' },
            from: { type: 'string' },
            to: { type: 'string' },
            gaps: { type: 'array', items: { type: 'string' }, description: 'every gap the report names, with its requirement' },
            markdown: { type: 'string' },
            html: { type: 'string' },
          },
          required: ['framework', 'title', 'from', 'to', 'gaps', 'markdown', 'html'],
          additionalProperties: false,
        },
        ...errors(400),
      },
    },
    handler: async (request, reply) => {
      const scope = tenantScope(principalOf(request));
      const q = request.query as { framework: FrameworkId; from: string; to?: string; format?: 'markdown' | 'html' | 'json' };
      const time = (v: string, name: string) => {
        try {
          return parseTimeArg(v);
        } catch (err) {
          throw new ApiError(400, `invalid query parameter "${name}": ${(err as Error).message}`);
        }
      };
      const from = time(q.from, 'from');
      const to = q.to === undefined ? new Date() : time(q.to, 'to');
      let report;
      try {
        report = await buildReport({
          framework: q.framework,
          from: chTime(from),
          to: chTime(to),
          tenants: scope,
          retention: privacy.policy.policy.retention,
          regime: privacy.policy.policy.regime,
          anchors: [...deps.checkpointers.values()].map((c) => {
            const s = c.status();
            return { chain_id: s.chain_id, anchors: s.anchors, anchor_backlog: s.anchor_backlog, halted: s.halted };
          }),
          database: store.database,
          run: (sql) => figureRows(store, sql, { tenants: scope, timeoutSeconds: ctx.config.queryTimeoutSeconds }),
        });
      } catch (err) {
        if (err instanceof ReportError) throw new ApiError(400, err.message);
        throw err;
      }
      if (q.format === 'json') {
        const gaps = report.requirements.flatMap((r) => r.gaps.map((g) => `${r.ref}: ${g}`));
        return { framework: report.framework, title: report.title, from: report.from, to: report.to, gaps, markdown: renderMarkdown(report), html: renderHtml(report) };
      }
      if (q.format === 'html') return reply.type('text/html; charset=utf-8').send(renderHtml(report));
      return reply.type('text/markdown; charset=utf-8').send(renderMarkdown(report));
    },
  });
}
