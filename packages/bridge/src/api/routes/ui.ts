/**
 * The web UI's shell (DESIGN 3.5): the built UI's index.html for `/`, `/cases/<id>` and any
 * other page path a browser asks for (a single-page app routes itself), and its files under
 * `/assets/`. These are public: the HTML, scripts and styles hold no data; every data call the
 * UI makes goes to /api with the reader's token. Without a built UI, a page says so.
 */
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ref } from '../schemas.ts';
import { ApiError, type ApiContext } from '../server.ts';

/** Default: `ui/dist` beside `api/` (src/ui/dist in a checkout, dist/ui/dist in a build). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The shell's headers: it runs only its own scripts, talks only to this origin, and is never
 * framed (the reviewer's desk shows personal data).
 */
const SHELL_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>otel-audit</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>otel-audit</h1>
<p>The web UI is not built in this installation, so there is nothing to show here.</p>
<p>The query API is at <a href="/api/openapi.json"><code>/api/openapi.json</code></a> (with a token when the bridge has an auth file),
and the <code>otel-audit</code> command reads the same data: <code>otel-audit timeline &lt;case&gt;</code>, <code>otel-audit event &lt;id&gt;</code>.</p>
</body></html>
`;

const HTML_RESPONSE = { 200: { description: "the web UI's index.html (or a page saying the UI is not built)", content: { 'text/html': { schema: { type: 'string' } } } } };

export function registerUiRoutes(ctx: ApiContext, uiDir: string = ctx.config.uiDir ?? DEFAULT_UI_DIR): void {
  const { api } = ctx;
  const root = uiDir.replace(/[/\\]+$/, '');

  async function index(_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    let html: Buffer | string;
    try {
      html = await readFile(join(root, 'index.html'));
    } catch {
      html = NOT_BUILT;
    }
    return reply.headers({ ...SHELL_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).send(html);
  }
  api.uiFallback = index;

  api.route({
    method: 'GET',
    url: '/',
    config: { access: 'public', what: 'load the web UI' },
    schema: { summary: 'The web UI', tags: ['ui'], response: HTML_RESPONSE },
    handler: index,
  });
  api.route({
    method: 'GET',
    url: '/cases/:correlationId',
    config: { access: 'public', what: 'load the web UI' },
    schema: {
      summary: "The web UI's page of a case: a stable link for tickets",
      tags: ['ui'],
      params: { type: 'object', properties: { correlationId: { type: 'string' } }, required: ['correlationId'] },
      response: HTML_RESPONSE,
    },
    handler: index,
  });
  api.route({
    method: 'GET',
    url: '/assets/*',
    config: { access: 'public', what: 'load the web UI' },
    schema: {
      summary: "The web UI's scripts, styles and images",
      tags: ['ui'],
      response: { 200: { description: 'a file of the built UI', content: { '*/*': { schema: { type: 'string' } } } }, 404: { description: 'no such file', ...ref('Error') } },
    },
    handler: async (request, reply) => {
      const rel = (request.params as { '*': string })['*'];
      const file = await assetPath(join(root, 'assets'), rel);
      if (!file) throw new ApiError(404, `no such file: /assets/${rel.slice(0, 200)}`);
      // Built assets carry a content hash in their names: cache them for good.
      const immutable = /[.-][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/.test(file);
      return reply
        .headers({
          ...SHELL_HEADERS,
          'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=300',
        })
        .send(createReadStream(file));
    },
  });
}

/** The file under `dir` that `rel` names, or null: never outside it (`..`, symlinks), files only. */
async function assetPath(dir: string, rel: string): Promise<string | null> {
  if (!rel || rel.includes('\0')) return null;
  try {
    const base = await realpath(dir);
    const file = await realpath(join(base, rel));
    if (!file.startsWith(base + sep)) return null;
    return (await stat(file)).isFile() ? file : null;
  } catch {
    return null;
  }
}
