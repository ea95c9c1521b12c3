// Sandbox images: 'host' (the host's own userland, built in) and rootfs tarballs imported into
// <dataDir>/images/<name>/rootfs, used read-only as a machine's overlay lower layer.
import { execFile } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { DriverError } from '../driver.js'

const run = promisify(execFile)
export const HOST_IMAGE = 'host'
const IMAGE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/

export function imagesRoot(dataDir: string): string {
  return path.join(dataDir, 'images')
}

export function assertImageName(name: string): void {
  if (!IMAGE_NAME.test(name) || name.includes('..')) {
    throw new DriverError('invalid', `invalid image name ${JSON.stringify(name)}: lowercase letters, digits, '.', '_', '-' (≤ 63)`)
  }
}

export function imageRootfs(dataDir: string, name: string): string {
  assertImageName(name)
  return path.join(imagesRoot(dataDir), name, 'rootfs')
}

export function imageExists(dataDir: string, name: string): boolean {
  return name === HOST_IMAGE || fs.existsSync(imageRootfs(dataDir, name))
}

export interface ImportedImage {
  name: string
  path: string
}

/**
 * Extracts a rootfs tarball (plain, gzip, xz, zstd: whatever GNU tar detects) as image `name`.
 * GNU tar refuses absolute and `..` member names and defers symlinks that could redirect later
 * members, so extraction stays inside the temp dir. Ownership and modes are kept (images contain
 * setuid binaries and root-owned trees); device nodes are inert because machine roots are nodev;
 * <dataDir>/images is 0700 so host users cannot reach setuid files in it.
 * The image appears atomically (rename) and an existing image is never replaced: machines use it
 * as a lower layer, which must not change under them.
 */
export async function importImage(dataDir: string, name: string, tarPath: string, opts: { tar?: string } = {}): Promise<ImportedImage> {
  assertImageName(name)
  if (name === HOST_IMAGE) throw new DriverError('invalid', `image name '${HOST_IMAGE}' is reserved for the host userland`)
  const st = await fsp.stat(tarPath).catch(() => undefined)
  if (!st?.isFile()) throw new DriverError('invalid', `not a file: ${tarPath}`)
  const root = imagesRoot(dataDir)
  await fsp.mkdir(root, { recursive: true, mode: 0o700 })
  await fsp.chmod(root, 0o700)
  const final = path.join(root, name)
  if (fs.existsSync(final)) throw new DriverError('exists', `image ${name} already exists`)
  const tmp = path.join(root, `.import-${name}-${crypto.randomBytes(4).toString('hex')}`)
  try {
    await fsp.mkdir(path.join(tmp, 'rootfs'), { recursive: true, mode: 0o700 })
    await run(opts.tar ?? 'tar', ['-x', '-f', path.resolve(tarPath), '-C', path.join(tmp, 'rootfs'), '--numeric-owner'], { maxBuffer: 1 << 20 })
    await fsp.chmod(path.join(tmp, 'rootfs'), 0o755)
    const sh = await fsp.lstat(path.join(tmp, 'rootfs', 'bin', 'sh')).catch(() => undefined)
    if (!sh) throw new DriverError('invalid', `image ${name} has no /bin/sh (needed for exec and boot commands)`)
    await fsp.rename(tmp, final)
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true })
    if (e instanceof DriverError) throw e
    const msg = (e as { stderr?: string }).stderr?.trim() || (e as Error).message
    throw new DriverError('invalid', `cannot import image ${name} from ${tarPath}: ${msg}`)
  }
  return { name, path: path.join(final, 'rootfs') }
}

/** Imported image names (the built-in 'host' first). */
export async function listImages(dataDir: string): Promise<string[]> {
  const names = await fsp.readdir(imagesRoot(dataDir)).catch(() => [] as string[])
  return [HOST_IMAGE, ...names.filter((n) => IMAGE_NAME.test(n) && fs.existsSync(path.join(imagesRoot(dataDir), n, 'rootfs'))).sort()]
}
