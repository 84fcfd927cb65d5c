/** The public surface of the vfio-user folder: the server as an mdev bus driver, and the client. */
export { VfioUserBusDriver, type VfioUserBusDriverOptions } from './bus-driver.js';
export { VfioUserClient, type ClientOptions, type ClientReply, type DeviceInfo, type IrqInfo } from './client.js';
export { Command, DeviceFlags, DmaMapFlags, DmaUnmapFlags, IrqInfoFlags, IrqSetFlags, RegionFlags } from './constants.js';
export { makeLogger, type LogLevel } from './log.js';
