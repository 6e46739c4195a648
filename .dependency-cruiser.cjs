// Import cycles (npm run lint): none between files, none between folders. Type-only imports
// count, so a cycle cannot hide behind `import type`. eslint's import-x/no-cycle checks files as
// they are edited; this checks the whole graph, folder by folder, in one pass.
module.exports = {
  forbidden: [
    {
      name: "no-folder-cycle",
      comment: "A folder that imports another must not be imported back by it, directly or through others.",
      severity: "error",
      scope: "folder",
      from: { path: "^(lib|stacks|policies)/" },
      to: { circular: true },
    },
    {
      name: "no-file-cycle",
      comment: "No file may reach itself through its imports.",
      severity: "error",
      from: { path: "^(lib|stacks|policies)/" },
      to: { circular: true },
    },
  ],
  options: {
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^lib/lab/vcsim/" },
  },
};
