// Hardhat 3 serves the local EVM dev nodes the tests run against (`hardhat node`): the default
// network (current hardfork, chain id 31337), and `bloxberglike`, which has Bloxberg's hardfork
// (Istanbul: no EIP-1559 fees, legacy transactions only) and chain id 8995.
// Compilation does not go through Hardhat (it would download solc): build.mjs uses the npm `solc`.
import { defineConfig } from "hardhat/config";

export default defineConfig({
  networks: {
    bloxberglike: { type: "edr-simulated", chainType: "l1", hardfork: "istanbul", chainId: 8995 },
  },
});
