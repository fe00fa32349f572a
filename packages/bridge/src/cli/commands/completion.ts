import { EVENT_TYPES } from '../../model.ts';
import { EXIT, UsageError, type Command } from '../shared.ts';

/** Flags whose value is a directory, a file, or one of a few words. */
const DIR_FLAGS = ['--data-dir', '--anchor-dir', '--work-dir'];
const FILE_FLAGS = ['--file', '--policy', '--auth-file', '--signing-key', '--public-key', '--output', '--reviewer-token-file', '--anchor-file'];
const VALUES: Record<string, string[]> = {
  '--log-level': ['debug', 'info', 'warn', 'error'],
  '--default-risk': ['low', 'medium', 'high'],
  // The model's list, so that a new event type completes without a second list to update.
  '--type': [...EVENT_TYPES],
};

/** The --format values a command takes, read from its usage line (`--format table|csv|jsonl`). */
function formats(c: Command): string[] {
  const m = /--format ([a-z|]+)/.exec(c.usage);
  return m ? m[1].split('|') : ['table', 'csv', 'jsonl'];
}

function flags(c: Command): string[] {
  return [...Object.keys(c.options).map((o) => `--${o}`), '--help'];
}

const words = (list: string[]) => list.join(' ');

function bash(commands: Record<string, Command>): string {
  const names = Object.keys(commands);
  const cases = names.map((n) => `    ${n}) opts="${words(flags(commands[n]))}"; formats="${words(formats(commands[n]))}" ;;`).join('\n');
  const values = Object.entries(VALUES)
    .map(([flag, v]) => `    ${flag}) COMPREPLY=( $(compgen -W "${words(v)}" -- "$cur") ); return ;;`)
    .join('\n');
  return `# bash completion for otel-audit. Load it in the current shell:
#   source <(otel-audit completion bash)
# or install it: otel-audit completion bash > /etc/bash_completion.d/otel-audit
_otel_audit() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${words(names)} --help --version" -- "$cur") )
    return
  fi
  local opts="" formats=""
  case "\${COMP_WORDS[1]}" in
${cases}
    *) return ;;
  esac
  case "$prev" in
    --format) COMPREPLY=( $(compgen -W "$formats" -- "$cur") ); return ;;
${values}
    ${DIR_FLAGS.join('|')}) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
    ${FILE_FLAGS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -o filenames -F _otel_audit otel-audit
`;
}

function zsh(commands: Record<string, Command>): string {
  const names = Object.keys(commands);
  const described = names.map((n) => `    '${n}:${commands[n].summary.replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`).join('\n');
  const cases = names.map((n) => `    (${n}) opts=(${words(flags(commands[n]))}); formats=(${words(formats(commands[n]))}) ;;`).join('\n');
  const values = Object.entries(VALUES)
    .map(([flag, v]) => `    (${flag}) compadd -- ${words(v)}; return ;;`)
    .join('\n');
  return `#compdef otel-audit
# zsh completion for otel-audit. Load it in the current shell (after compinit):
#   source <(otel-audit completion zsh)
# or install it as _otel-audit in a directory of your $fpath.
_otel-audit() {
  if (( CURRENT == 2 )); then
    local -a commands
    commands=(
${described}
    )
    _describe -t commands 'otel-audit command' commands
    return
  fi
  local -a opts formats
  case \${words[2]} in
${cases}
    (*) return 1 ;;
  esac
  case \${words[CURRENT-1]} in
    (--format) compadd -- $formats; return ;;
${values}
    (${DIR_FLAGS.join('|')}) _directories; return ;;
    (${FILE_FLAGS.join('|')}) _files; return ;;
  esac
  if [[ \${words[CURRENT]} == -* ]]; then
    compadd -- $opts
  else
    _files
  fi
}
if [[ \${funcstack[1]} == _otel-audit ]]; then
  _otel-audit "$@"
else
  compdef _otel-audit otel-audit
fi
`;
}

/** `otel-audit completion bash|zsh`: a completion script made from the commands' own options. */
export function completionCommand(commands: () => Promise<Record<string, Command>>): Command {
  return {
    summary: 'print a shell completion script (bash or zsh)',
    usage: 'otel-audit completion bash|zsh',
    options: {},
    details: `bash: source <(otel-audit completion bash), or save it in /etc/bash_completion.d/otel-audit.
zsh:  source <(otel-audit completion zsh) after compinit, or save it as _otel-audit in your $fpath.`,
    async run(_values, pos) {
      if (pos.length !== 1 || (pos[0] !== 'bash' && pos[0] !== 'zsh')) throw new UsageError('completion takes one shell: bash or zsh');
      const all = await commands();
      process.stdout.write(pos[0] === 'bash' ? bash(all) : zsh(all));
      return EXIT.OK;
    },
  };
}
