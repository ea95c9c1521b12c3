// The sandbox driver (embedded default) and its image store.
export { SandboxDriver, type SandboxDriverOptions } from './driver.js'
export { importImage, listImages, assertImageName, HOST_IMAGE, type ImportedImage } from './images.js'
