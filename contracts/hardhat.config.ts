// Hardhat 3 serves the local EVM dev node the tests run against (`hardhat node`, chain id 31337).
// Compilation does not go through Hardhat (it would download solc): build.mjs uses the npm `solc`.
import { defineConfig } from "hardhat/config";

export default defineConfig({});
