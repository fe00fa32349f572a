import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.ts';
import type { UiConfig } from './model.ts';

export interface AppContextValue {
  api: Api;
  config: UiConfig;
  /** Says something to screen-reader users (a polite live region). */
  announce(message: string): void;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const v = useContext(AppContext);
  if (!v) throw new Error('useApp outside the app');
  return v;
}
