import js from "@eslint/js";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".venv*/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    // Every error skyplane throws is a SkyplaneError with a code from the table in errors.ts.
    files: ["**/*.ts"],
    ignores: ["errors.ts", "test/**", "bench/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "NewExpression[callee.name=/^(Error|RangeError|TypeError|SyntaxError)$/]",
          message: "Throw a SkyplaneError or UserError with a code from ERRORS (errors.ts).",
        },
        {
          selector: "ClassDeclaration[superClass.name=/^(Error|RangeError|TypeError)$/]",
          message: "Derive errors from SkyplaneError (errors.ts), with a code from ERRORS.",
        },
      ],
    },
  },
  {
    // Dynamic providers are serialised into stack state and may capture no module of ours (the table
    // would be copied into every resource): their errors reach the engine as text, as plain Errors.
    files: ["components/local/process.ts", "components/local/network.ts"],
    rules: { "no-restricted-syntax": "off" },
  },
);
