using System.Runtime.InteropServices;
using System.Text;
using MultiArch.Tool;

// Ctrl+C (and SIGTERM) cancel the command as MSBuild cancels a task: requests stop, no tag is left half-moved.
// A second Ctrl+C ends the process at once.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (!cancellation.IsCancellationRequested)
    {
        e.Cancel = true;
        cancellation.Cancel();
    }
};
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    cancellation.Cancel();
});

var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
await using var stdout = new StreamWriter(Console.OpenStandardOutput(), utf8) { AutoFlush = false };
await using var stderr = new StreamWriter(Console.OpenStandardError(), utf8) { AutoFlush = true };
return await Cli.RunAsync(args, stdout, stderr, Environment.GetEnvironmentVariable, cancellation.Token);
