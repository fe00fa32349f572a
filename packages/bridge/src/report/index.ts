/**
 * Compliance reports (docs/compliance.md): for a framework and a period, the evidence the trail
 * holds for each of its logging requirements, the gaps, and the query behind every figure.
 */
export { FIGURE_IDS, FIGURES, figureSql, type FigureId } from './figures.ts';
export { FRAMEWORK_IDS, FRAMEWORKS, type FrameworkId } from './frameworks.ts';
export { buildReport, renderHtml, renderMarkdown, ReportError, type Report, type ReportInput } from './report.ts';
