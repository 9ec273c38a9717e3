// Compiles src/*.sol with solcjs (the npm `solc` package: no compiler download at run time)
// into build/<Contract>.json (abi, bytecode, deployedBytecode), which are checked in so that
// the Rust crate poex-chain embeds them without Node.js. `node build.mjs --check` compiles
// again and fails if a checked-in artifact differs from what the sources produce.
//
// EVM target "istanbul": Bloxberg runs the Istanbul upgrade (no PUSH0, no BASEFEE, no
// PREVRANDAO), and bytecode for it runs unchanged on every later EVM, Hardhat's included.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = path.dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const EVM_VERSION = "istanbul";

const sources = {};
for (const file of fs.readdirSync(path.join(here, "src")).sort()) {
  if (file.endsWith(".sol")) {
    sources[`src/${file}`] = { content: fs.readFileSync(path.join(here, "src", file), "utf8") };
  }
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const problems = output.errors ?? [];
for (const e of problems) console.error(e.formattedMessage ?? e.message);
if (problems.some((e) => e.severity === "error")) process.exit(1);

const outDir = path.join(here, "build");
fs.mkdirSync(outDir, { recursive: true });
let stale = 0;
for (const [sourceName, contracts] of Object.entries(output.contracts)) {
  for (const [contractName, c] of Object.entries(contracts)) {
    const artifact = {
      contractName,
      sourceName,
      compiler: { version: solc.version(), evmVersion: EVM_VERSION, optimizerRuns: 200 },
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const file = path.join(outDir, `${contractName}.json`);
    if (check) {
      const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
      if (old !== text) {
        console.error(`build/${contractName}.json does not match ${sourceName}: run \`npm run build --prefix contracts\` and commit it`);
        stale++;
      }
    } else {
      fs.writeFileSync(file, text);
      console.log(`${sourceName} -> build/${contractName}.json (${(c.evm.bytecode.object.length / 2) | 0} bytes of init code)`);
    }
  }
}
if (stale) process.exit(1);
if (check) console.log(`contracts: build/ matches src/ (solc ${solc.version()}, evm ${EVM_VERSION})`);
