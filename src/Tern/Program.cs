using Tern.Cli;

return await TernCommandLine.RunAsync(args, Console.Out, Console.Error);
