/**
 * deploy/: every Kubernetes manifest validates offline against the schemas of
 * a pinned Kubernetes (kubernetes-models 5.1.0: Kubernetes 1.36 OpenAPI, so
 * >= 1.29 as native sidecars need), the image and the manifests agree (user,
 * ports, probe paths), the ConfigMap's config passes `ferry validate` and,
 * run for real, serves the probe paths the manifests name. The systemd unit
 * passes `systemd-analyze verify` where that tool runs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/index.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { FERRY_CLI } from '../helpers/ferry-process.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../..');
const K8S = join(REPO, 'deploy/kubernetes');

// === Reading the manifests ===

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML walked by path; the schema validators are their type check
type Doc = Record<string, any>;

function manifest(file: string): Doc {
  return parseYaml(readFileSync(join(K8S, file), 'utf8')) as Doc;
}

/** The schema validator of each kind the example uses; a kind without one fails the test. */
const VALIDATORS: Record<string, (doc: Doc) => void> = {
  'apps/v1 Deployment': (doc) => new Deployment(doc as never).validate(),
  'v1 ConfigMap': (doc) => new ConfigMap(doc as never).validate(),
  'v1 Secret': (doc) => new Secret(doc as never).validate(),
  'v1 Service': (doc) => new Service(doc as never).validate(),
};

function validate(doc: Doc): void {
  const validator = VALIDATORS[`${doc['apiVersion']} ${doc['kind']}`];
  if (validator === undefined) throw new Error(`no schema for ${doc['apiVersion']} ${doc['kind']}`);
  validator(doc);
}

function ferryContainer(deployment: Doc): Doc {
  const sidecar = (deployment['spec'].template.spec.initContainers as Doc[]).find(
    (c) => c['name'] === 'ferry',
  );
  if (sidecar === undefined) throw new Error('no initContainer named ferry');
  return sidecar;
}

function dockerfile(): string {
  return readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8');
}

/** The ConfigMap's ferry.yaml. */
function configMapConfig(): string {
  return manifest('configmap.yaml')['data']['ferry.yaml'] as string;
}

// === Tests ===

let ferry: TestFerry | null = null;
let targets: TestTarget[] = [];
afterEach(async () => {
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

describe('deploy/kubernetes', () => {
  const kustomization = manifest('kustomization.yaml');
  const resources = kustomization['resources'] as string[];

  it('lists every manifest of the folder in kustomization.yaml', () => {
    expect(kustomization['apiVersion']).toBe('kustomize.config.k8s.io/v1beta1');
    expect(kustomization['kind']).toBe('Kustomization');
    const files = readdirSync(K8S).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
    expect([...resources].sort()).toEqual(files.sort());
  });

  it.each(resources)('%s validates against the pinned Kubernetes schemas', (file) => {
    expect(() => validate(manifest(file))).not.toThrow();
  });

  describe('when a manifest is broken on purpose', () => {
    it('fails the same validation: a probe without a port', () => {
      const deployment = manifest('deployment.yaml');
      delete ferryContainer(deployment)['readinessProbe'].httpGet.port;
      expect(() => validate(deployment)).toThrow(/readinessProbe\/httpGet must have required property port/);
    });

    it('fails the same validation: a container without a name', () => {
      const deployment = manifest('deployment.yaml');
      delete ferryContainer(deployment)['name'];
      expect(() => validate(deployment)).toThrow(/initContainers\/0 must have required property name/);
    });
  });

  it('runs Ferry as a native sidecar: an initContainer with restartPolicy Always', () => {
    expect(ferryContainer(manifest('deployment.yaml'))['restartPolicy']).toBe('Always');
  });

  it('locks the sidecar down: non-root, read-only root, no privilege escalation, no capabilities', () => {
    const deployment = manifest('deployment.yaml');
    const security = ferryContainer(deployment)['securityContext'];
    expect(security).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(ferryContainer(deployment)['resources']).toMatchObject({
      requests: { cpu: expect.any(String), memory: expect.any(String) },
      limits: { memory: expect.any(String) },
    });
  });

  it('runs the image user the Dockerfile sets', () => {
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile());
    expect(user, 'a numeric USER uid:gid in deploy/Dockerfile').not.toBeNull();
    const security = ferryContainer(manifest('deployment.yaml'))['securityContext'];
    expect([String(security.runAsUser), String(security.runAsGroup)]).toEqual([user![1], user![2]]);
    expect(Number(user![1])).toBeGreaterThan(0);
  });

  it('declares the ports the image exposes and the config listens on; the Service exposes only the listener', () => {
    const container = ferryContainer(manifest('deployment.yaml'));
    const ports = new Map(
      (container['ports'] as Doc[]).map((p) => [p['name'] as string, p['containerPort'] as number]),
    );
    const exposed = /^EXPOSE (.+)$/m.exec(dockerfile())![1]!.split(/\s+/).map(Number);
    expect([...ports.values()].sort()).toEqual(exposed.sort());
    const parsed = parseConfig(configMapConfig(), 'configmap.yaml');
    if (!parsed.ok) throw new Error('the ConfigMap config is invalid');
    const { snapshot } = parsed;
    expect(snapshot.listeners.map((l) => l.port)).toEqual([ports.get('ferry-http')]);
    expect(snapshot.probeAddress?.port).toBe(ports.get('ferry-probe'));
    // Admin and control stay on loopback; only the listener (and the kubelet's probe port) are on the pod IP.
    expect(snapshot.admin.host).toBe('127.0.0.1');
    expect(snapshot.control?.address.address).toMatch(/^127\.0\.0\.1:/);
    const service = manifest('service.yaml');
    expect((service['spec'].ports as Doc[]).map((p) => p['targetPort'])).toEqual(['ferry-http']);
  });

  it('probes /readyz (startup, readiness) and /healthz (liveness) on the probe port', () => {
    const container = ferryContainer(manifest('deployment.yaml'));
    expect(container['startupProbe'].httpGet).toEqual({ path: '/readyz', port: 'ferry-probe' });
    expect(container['readinessProbe'].httpGet).toEqual({ path: '/readyz', port: 'ferry-probe' });
    expect(container['livenessProbe'].httpGet).toEqual({ path: '/healthz', port: 'ferry-probe' });
  });

  it('starts the drain in preStop and gives it the time it needs before the kill', () => {
    const deployment = manifest('deployment.yaml');
    const container = ferryContainer(deployment);
    const command = container['lifecycle'].preStop.exec.command as string[];
    expect(command[0]).toBe('ferryctl');
    expect(command.at(-1)).toBe('drain');
    const parsed = parseConfig(configMapConfig(), 'configmap.yaml');
    if (!parsed.ok) throw new Error('the ConfigMap config is invalid');
    const neededS = (parsed.snapshot.drainDelayMs + parsed.snapshot.shutdownGracePeriodMs) / 1_000;
    expect(deployment['spec'].template.spec.terminationGracePeriodSeconds).toBeGreaterThan(neededS);
    // The token the config names is the Secret's key, where the Secret is mounted.
    const mount = (container['volumeMounts'] as Doc[]).find((m) => m['name'] === 'ferry-control')!;
    expect(parsed.snapshot.control?.tokenFile).toBe(`${mount['mountPath']}/control-token`);
    expect(manifest('secret.yaml')['stringData']).toHaveProperty('control-token');
  });

  it('mounts the ConfigMap as a folder (subPath mounts never update)', () => {
    const container = ferryContainer(manifest('deployment.yaml'));
    const mount = (container['volumeMounts'] as Doc[]).find((m) => m['name'] === 'ferry-config')!;
    expect(mount['subPath']).toBeUndefined();
    expect(container['args']).toEqual(['--config', `${mount['mountPath']}/ferry.yaml`]);
  });

  it('holds a ConfigMap config that `ferry validate` accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-k8s-'));
    const path = join(dir, 'ferry.yaml');
    writeFileSync(path, configMapConfig());
    const { stdout } = await run(process.execPath, [FERRY_CLI, 'validate', '--config', path]);
    expect(stdout).toContain('config OK');
  });

  it('serves the probe paths on the probe port when the ConfigMap config runs', async () => {
    targets = await startTargets(1);
    // The same config on free loopback ports, forwarding to a test target instead of the app container.
    const yaml = configMapConfig()
      .replace('probeAddress: 0.0.0.0:9902', 'probeAddress: 127.0.0.1:0')
      .replace('address: 127.0.0.1:9901', 'address: 127.0.0.1:0')
      .replace(/control: \{[^}]*\}/, '')
      .replace('address: 0.0.0.0:8080', 'address: 127.0.0.1:0')
      .replace('{ address: 127.0.0.1:3000 }', `{ address: ${targets[0]!.address} }`)
      .replace(/healthCheck: \{[^}]*\}/, 'healthCheck: { enabled: false }');
    ferry = await startTestFerry(yaml);
    const container = ferryContainer(manifest('deployment.yaml'));
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const response = await request(`http://${ferry.probeAddress}${container[probe].httpGet.path}`);
      await response.body.text();
      expect(response.statusCode, probe).toBe(200);
    }
    // Nothing but probes on that port: metrics and the status page stay on the loopback admin endpoint.
    const metrics = await request(`http://${ferry.probeAddress}/metrics`);
    await metrics.body.text();
    expect(metrics.statusCode).toBe(404);
    const proxied = await request(`${ferry.url}/`);
    expect(await proxied.body.text()).toContain(targets[0]!.name);
  });
});

describe('deploy/Dockerfile', () => {
  const text = dockerfile();

  it('pins its Node 24 base by tag (the Node the tests run on) and takes it as a build argument', () => {
    const tag = /^ARG BASE=node:(\d+\.\d+\.\d+)-[a-z]+-slim$/m.exec(text);
    expect(tag, 'ARG BASE=node:<x.y.z>-<debian>-slim').not.toBeNull();
    expect(tag![1]).toBe(process.versions.node);
    expect(text).toMatch(/^FROM \$\{BASE\} AS build$/m);
    expect(text).toMatch(/^FROM \$\{BASE\}$/m);
  });

  it('runs ferry as its entrypoint without a shell, stops on SIGTERM, as a numeric user', () => {
    expect(text).toMatch(/^ENTRYPOINT \["ferry"\]$/m);
    expect(text).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(text).toMatch(/^USER \d+:\d+$/m);
    expect(text).not.toMatch(/^(CMD|ENTRYPOINT) [^[]/m); // no shell form
  });

  it('leaves dev dependencies out of the runtime stage', () => {
    expect(text).toContain('npm prune --omit=dev');
  });

  it('sends the build only what it copies (.dockerignore)', () => {
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8');
    expect(ignore).toMatch(/^\*$/m);
    const copied = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    for (const path of copied) expect(ignore, path).toMatch(new RegExp(`^!${path}/?$`, 'm'));
  });
});

describe('deploy/systemd/ferry.service', () => {
  const hasAnalyze = (() => {
    try {
      execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasAnalyze) console.warn('skipping systemd-analyze verify: systemd-analyze is not installed here');

  it('reloads with SIGHUP and stops with SIGTERM', () => {
    const unit = readFileSync(join(REPO, 'deploy/systemd/ferry.service'), 'utf8');
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes$/m); // V8 needs W+X pages
  });

  it.skipIf(!hasAnalyze)('passes systemd-analyze verify', async () => {
    // verify insists the ExecStart binary exists: point it at this checkout's ferry.
    const dir = mkdtempSync(join(tmpdir(), 'ferry-unit-'));
    const unit = readFileSync(join(REPO, 'deploy/systemd/ferry.service'), 'utf8').replace(
      '/usr/local/bin/ferry',
      `${process.execPath} ${FERRY_CLI}`,
    );
    writeFileSync(join(dir, 'ferry.service'), unit);
    const { stderr } = await run('systemd-analyze', ['verify', join(dir, 'ferry.service')]);
    expect(stderr).toBe('');
  });
});
