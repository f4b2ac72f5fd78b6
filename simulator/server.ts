/** Listening on a port, shared by `main.ts` and tests (port 0 picks a free one). */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Simulator } from './app.js';

export interface RunningSimulator {
  server: Server;
  /** `http://host:port`; ThingSpace paths are under `${url}/api`. */
  url: string;
  /** Stops listening, drops open connections, and stops the simulator's timers and deliveries. */
  stop(): Promise<void>;
}

export function listen(simulator: Simulator, port: number, host = '127.0.0.1'): Promise<RunningSimulator> {
  return new Promise((resolve, reject) => {
    const server = simulator.app.listen(port, host, (error?: Error) => {
      if (error) return reject(error);
      const address = server.address() as AddressInfo;
      const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        server,
        url: `http://${hostname}:${address.port}`,
        stop: async () => {
          const closed = new Promise<void>((done) => server.close(() => done()));
          server.closeAllConnections();
          await Promise.all([closed, simulator.close()]);
        },
      });
    });
    server.once('error', reject);
  });
}
