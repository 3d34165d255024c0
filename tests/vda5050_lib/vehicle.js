// One VDA 5050 2.0 vehicle that is not gatecore's: vda-5050-lib's AgvController driving its VirtualAgvAdapter.
// Usage: node vehicle.js BROKER_URL INTERFACE MANUFACTURER SERIAL MAP_ID X Y LAST_NODE_ID [TIME_LAPSE]
// Prints "ready" once it is on the broker, and stops on SIGTERM or when stdin closes.
"use strict";
const { AgvController, VirtualAgvAdapter } = require("vda-5050-lib");

async function main() {
    const [brokerUrl, interfaceName, manufacturer, serialNumber, mapId, x, y, lastNodeId, timeLapse] =
        process.argv.slice(2);
    const controller = new AgvController(
        { manufacturer, serialNumber },
        { interfaceName, transport: { brokerUrl }, vdaVersion: "2.0.0" },
        { agvAdapterType: VirtualAgvAdapter, publishStateInterval: 1000, publishVisualizationInterval: 1000 },
        {
            initialPosition: { mapId, x: Number(x), y: Number(y), theta: 0, lastNodeId },
            vehicleSpeed: 2,
            timeLapse: Number(timeLapse || 1),
        },
    );
    await controller.start();
    process.stdout.write("ready\n");
    let stopping = false;
    const stop = async () => {
        if (stopping) return;
        stopping = true;
        try { await controller.stop(); } finally { process.exit(0); }
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.stdin.on("end", stop);
    process.stdin.resume();
}

main().catch((err) => { process.stderr.write(`vehicle failed: ${err && err.stack || err}\n`); process.exit(1); });
