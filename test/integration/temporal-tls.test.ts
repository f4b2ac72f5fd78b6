/**
 * The processes' connection to Temporal through mutual TLS: a TLS proxy (HTTP/2 by ALPN, client certificates
 * required) in front of the test's Temporal dev server, and certificates made with openssl. The client, the
 * worker's NativeConnection and the gateway's lazy Connection all take their options from
 * `temporalConnectionOptions`, as the processes do.
 */
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { parseConfig, workerSchema, ConfigError } from '../../config/index.js';
import { temporalConnectionOptions } from '../../config/temporal-connection.js';
import { testServerAddress } from './temporal-env.js';

let dir: string;
let proxy: Server;
let address: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  for (const [name, extension] of [
    ['server', 'subjectAltName=DNS:temporal.test,IP:127.0.0.1'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), `${extension}\n`);
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
  const [host, port] = testServerAddress().split(':');
  proxy = createServer(
    {
      key: readFileSync(join(dir, 'server.key')),
      cert: readFileSync(join(dir, 'server.pem')),
      ca: readFileSync(join(dir, 'ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      const upstream = tcpConnect(Number(port), host ?? '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      const close = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', close);
      upstream.on('error', close);
    },
  );
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const mtls = () => ({
  TEMPORAL_ADDRESS: address,
  TEMPORAL_TLS_CA: join(dir, 'ca.pem'),
  TEMPORAL_TLS_CERT: join(dir, 'client.pem'),
  TEMPORAL_TLS_KEY: join(dir, 'client.key'),
  TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
});

describe('connections to Temporal through mutual TLS', () => {
  it('the client (gateway, scripts, backend services) connects with the configured certificates', async () => {
    const config = parseConfig(workerSchema, mtls());
    const connection = await Connection.connect(temporalConnectionOptions(config));
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
    } finally {
      await connection.close();
    }
  });

  it("the gateway's lazy connection and the worker's native connection connect too", async () => {
    const options = temporalConnectionOptions(parseConfig(workerSchema, mtls()));
    const lazy = Connection.lazy(options);
    try {
      await lazy.ensureConnected();
      expect((await lazy.workflowService.getSystemInfo({})).serverVersion).toBeTruthy();
    } finally {
      await lazy.close();
    }
    const native = await NativeConnection.connect(options);
    await native.close();
  });

  it('without a client certificate the TLS proxy refuses the connection', async () => {
    const { TEMPORAL_TLS_CERT: _c, TEMPORAL_TLS_KEY: _k, ...serverOnly } = mtls();
    await expect(
      (async () => {
        const connection = await Connection.connect({
          ...temporalConnectionOptions(serverOnly),
          connectTimeout: 3_000,
        });
        try {
          await connection.workflowService.getSystemInfo({});
        } finally {
          await connection.close();
        }
      })(),
    ).rejects.toThrow();
  });

  it('a certificate without its key, or a file that cannot be read, stops the start naming the variable', () => {
    const { TEMPORAL_TLS_KEY: _k, ...noKey } = mtls();
    expect(() => parseConfig(workerSchema, noKey)).toThrow(
      new ConfigError('Invalid configuration: TEMPORAL_TLS_KEY: set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY together'),
    );
    expect(() => parseConfig(workerSchema, { ...mtls(), TEMPORAL_TLS_CA: join(dir, 'missing.pem') })).toThrow(
      /TEMPORAL_TLS_CA: cannot read .*missing\.pem/,
    );
  });
});
