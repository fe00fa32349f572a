import { Session } from 'chdb';
const s = new Session('/tmp/rss/jedb2');
console.log(s.query("SELECT 1", 'TSV'));
s.close();
