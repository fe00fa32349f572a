/**
 * Every route of the API, registered on the server by the bridge (bridge.ts). A route module
 * exports `register<Name>Routes(ctx, deps?)` and adds its routes with `ctx.api.route({...,
 * config: {access, what}, schema: {summary, ...}})`; the server refuses a route without them.
 */
import type { Checkpointer } from '../../chain/checkpointer.ts';
import { IntegrityChecker } from '../../chain/integrity.ts';
import type { ApiContext } from '../server.ts';
import type { Detector } from '../../detect/index.ts';
import { registerAlertRoutes } from './alerts.ts';
import { registerChainRoutes } from './chain.ts';
import { registerEventRoutes } from './events.ts';
import { registerEvidenceRoutes } from './evidence.ts';
import { registerPrivacyRoutes } from './privacy.ts';
import { registerReportRoutes } from './report.ts';
import { registerSessionRoutes } from './session.ts';
import { registerSystemRoutes } from './system.ts';
import { registerUiRoutes } from './ui.ts';

export interface ApiRouteDeps {
  /** The instance's chain id; its chains are `<chainId>-low|medium|high`. */
  chainId: string;
  /** One checkpointer per chain (all with the same key and anchors). */
  checkpointers: Map<string, Checkpointer>;
  /** The detections (detect/): alerts are listed, and a range re-run, through it. */
  detector?: Detector;
}

export function registerApiRoutes(ctx: ApiContext, deps: ApiRouteDeps): void {
  const first = [...deps.checkpointers.values()][0];
  if (!first) throw new Error('registerApiRoutes: no checkpointer');
  // Per-event integrity for the reviewer's desk: the bridge's anchors and key (chain/integrity.ts).
  const integrity = new IntegrityChecker(ctx.store, { anchors: first.anchors, publicKey: first.key.publicKey });
  registerSystemRoutes(ctx);
  registerSessionRoutes(ctx);
  registerEventRoutes(ctx, { integrity, chainId: deps.chainId });
  registerChainRoutes(ctx, deps);
  registerPrivacyRoutes(ctx);
  registerEvidenceRoutes(ctx, { store: ctx.store, checkpointers: deps.checkpointers, recordAccess: (r) => ctx.status.recordAccess(r), log: ctx.log });
  registerUiRoutes(ctx);
  registerAlertRoutes(ctx, { detector: deps.detector });
  registerReportRoutes(ctx, { checkpointers: deps.checkpointers });
}
