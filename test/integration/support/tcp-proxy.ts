// A loopback TCP proxy to put between a client and a server so a test can break the network
// between them: `cut()` closes every open connection at once (watches die mid-stream, requests in
// flight fail), `refuse()` turns new connections away until `accept()` (a partition). It forwards
// bytes and nothing else, so TLS stays end to end: the client still verifies the server's
// certificate (127.0.0.1 is in its SANs) and presents its own.
//
// Guarantees: listens on 127.0.0.1 only; close() ends every connection and the listener; counts
// what it did (connections accepted, refused, cut) for the test's figures.

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port clients connect to. */
  port: number;
  /** Closes every open connection (both sides, with a reset); returns how many it closed. */
  cut(): number;
  /** Turns every new connection away (reset at once) until `accept()`. */
  refuse(): void;
  accept(): void;
  isRefusing(): boolean;
  /** Open client connections right now. */
  open(): number;
  stats(): { accepted: number; refused: number; cut: number };
  close(): Promise<void>;
}

function reset(socket: Socket): void {
  // An RST rather than a FIN: the peer sees ECONNRESET, as with a broken network path.
  if (!socket.destroyed) socket.resetAndDestroy();
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<[Socket, Socket]>();
  const stats = { accepted: 0, refused: 0, cut: 0 };
  let refusing = false;

  const server: Server = createServer({ noDelay: true }, (client) => {
    if (refusing) {
      stats.refused += 1;
      reset(client);
      return;
    }
    stats.accepted += 1;
    client.pause();
    const upstream = createConnection({ host, port: target.port, noDelay: true });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      reset(client);
      reset(upstream);
    };
    upstream.once('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    // The server going away (e.g. restarting) reaches the client as a reset, not a hang.
    upstream.once('error', end);
    client.once('error', end);
    upstream.once('close', end);
    client.once('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('proxy has no address');

  return {
    port: address.port,
    cut() {
      const n = pairs.size;
      for (const [client, upstream] of [...pairs]) {
        pairs.delete([client, upstream]);
        reset(client);
        reset(upstream);
      }
      pairs.clear();
      stats.cut += n;
      return n;
    },
    refuse() {
      refusing = true;
    },
    accept() {
      refusing = false;
    },
    isRefusing: () => refusing,
    open: () => pairs.size,
    stats: () => ({ ...stats }),
    async close() {
      refusing = true;
      for (const [client, upstream] of pairs) {
        reset(client);
        reset(upstream);
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
