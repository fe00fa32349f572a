/**
 * The reviewer's desk (DESIGN 3.5): the web UI the bridge serves at its API address.
 * See ../README.md for the pages, the sign-in, and how it is built and tested.
 */
import './styles.css';
import { render } from 'preact';
import { App } from './components/App.tsx';
import { installLinkInterception } from './router.ts';
import { Session } from './session.ts';

installLinkInterception();
render(<App session={Session.forBrowser()} />, document.getElementById('app')!);
