// The Docker driver (Engine API over its unix socket).
export { DockerDriver, type DockerDriverOptions } from './driver.js'
