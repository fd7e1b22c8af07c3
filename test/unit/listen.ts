// parseListen / formatAddress: every accepted form of a `listen =` address and the exact
// reason each malformed one is refused (the text after "[group] listen: " in a config line).
import t from 'tap';
import { formatAddress, parseListen, type ListenSpec } from '../../src/config/listen.js';

const tcp = (url: string, protocol: string, host: string, port: number): ListenSpec => ({ url, protocol, transport: 'tcp', host, port, path: '' });

t.test('accepted addresses', async (t) => {
  const cases: [string, ListenSpec][] = [
    ['text://127.0.0.1:8080', tcp('text://127.0.0.1:8080', 'text', '127.0.0.1', 8080)],
    ['TCP://0.0.0.0:1', tcp('TCP://0.0.0.0:1', 'tcp', '0.0.0.0', 1)],
    ['ws://localhost:65535', tcp('ws://localhost:65535', 'websocket', 'localhost', 65535)],
    ['http://example.com:80/', tcp('http://example.com:80/', 'http', 'example.com', 80)],
    ['jsonnl://10.0.0.1:9000', tcp('jsonnl://10.0.0.1:9000', 'jsonnl', '10.0.0.1', 9000)],
    ['tcp://[::1]:8080', tcp('tcp://[::1]:8080', 'tcp', '::1', 8080)],
    // One spelling per IPv6 address, so that two spellings of one address clash.
    ['tcp://[0:0::1]:8080', tcp('tcp://[0:0::1]:8080', 'tcp', '::1', 8080)],
    ['udp://127.0.0.1:53', { url: 'udp://127.0.0.1:53', protocol: 'udp', transport: 'udp', host: '127.0.0.1', port: 53, path: '' }],
    ['unix:///run/loom.sock', { url: 'unix:///run/loom.sock', protocol: 'tcp', transport: 'unix', host: '', port: 0, path: '/run/loom.sock' }],
    ['frame+unix:///tmp/f.sock', { url: 'frame+unix:///tmp/f.sock', protocol: 'frame', transport: 'unix', host: '', port: 0, path: '/tmp/f.sock' }],
  ];
  for (const [url, spec] of cases) t.same(parseListen(url), spec, url);
});

t.test('refused addresses, each with its reason', async (t) => {
  const cases: [string, string][] = [
    ['te$t://127.0.0.1:80', '"te$t://127.0.0.1:80" is not protocol://host:port (or unix:///path)'],
    ['127.0.0.1:80', '"127.0.0.1:80" is not protocol://host:port (or unix:///path)'],
    ['text://127.0.0.1', 'missing ":port" in "127.0.0.1"'],
    ['text://:80', 'missing host in ":80" (use 0.0.0.0 for every interface)'],
    ['text://127.0.0.1:0', 'port 0 is out of range 1-65535'],
    ['text://127.0.0.1:70000', 'port 70000 is out of range 1-65535'],
    ['text://127.0.0.1:http', 'port "http" is not a number'],
    ['tcp://::1:80', 'IPv6 address must be in brackets, as [::1]:8080'],
    ['tcp://[::1:80', 'IPv6 address "[::1:80" lacks the closing "]"'],
    ['tcp://[1.2.3.4]:80', '"1.2.3.4" is not an IPv6 address'],
    ['tcp://[::1]80', 'missing ":port" after [::1]'],
    ['tcp://bad_host!:80', '"bad_host!" is not an IP address or host name'],
    ['unix://run/loom.sock', 'unix socket path must be absolute, as unix:///run/loom.sock; got "run/loom.sock"'],
    ['udp+unix:///tmp/x.sock', 'udp cannot run over a unix socket'],
    ['jsonnl+udp://127.0.0.1:80', '"jsonnl+udp": a protocol cannot run over udp; udp://host:port delivers each datagram as one message'],
    ['text+frame+unix:///tmp/x.sock', 'scheme "text+frame+unix" is not NAME (NAME://host:port) or NAME+unix (NAME+unix:///path)'],
    ['text+tls://127.0.0.1:80', 'scheme "text+tls" is not NAME (NAME://host:port) or NAME+unix (NAME+unix:///path)'],
    ['1abc://127.0.0.1:80', '"1abc://127.0.0.1:80" is not protocol://host:port (or unix:///path)'],
    [`unix:///${'x'.repeat(107)}`, 'unix socket path is longer than 107 bytes'],
  ];
  for (const [url, message] of cases) t.throws(() => parseListen(url), { message }, url);
});

t.test('formatAddress: host:port, [v6]:port, or the socket path', async (t) => {
  t.equal(formatAddress(parseListen('text://127.0.0.1:8080')), '127.0.0.1:8080');
  t.equal(formatAddress(parseListen('tcp://[::]:80')), '[::]:80');
  t.equal(formatAddress(parseListen('text+unix:///run/a.sock')), '/run/a.sock');
});
