// The per-machine forwarder: network reach into a machine without IP addresses (ARCHITECTURE.md).
export { FORWARDER_SOURCE, writeForwarderScript } from './script.js'
export { dialForwarder, dialWithRespawn, isForwarderDown, spawnForwarder, waitForSocket, type ForwarderSpawn } from './client.js'
export { isAlive, procStartTime, refOf, signalRef, waitGone, waitUntil, sleep, type ProcessRef } from './host-process.js'
