using System.ComponentModel;
using System.Diagnostics;

namespace Coach.Engine.Data.Media;

/// <summary>ffmpeg as a child process: raw RGB frames in or out through a pipe (docs/data.md).</summary>
public static class Ffmpeg
{
    /// <summary>Environment variable naming the ffmpeg binary to use instead of the one on PATH.</summary>
    public const string PathVariable = "COACH_FFMPEG";

    public static string Executable =>
        Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } chosen ? chosen : "ffmpeg";

    /// <summary>Starts ffmpeg with <paramref name="arguments"/>, stdin and stdout as pipes, stderr captured.</summary>
    public static Process Start(IEnumerable<string> arguments, bool writeInput)
    {
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardInput = writeInput,
            RedirectStandardOutput = !writeInput,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            return Process.Start(start) ?? throw new InvalidOperationException($"{Executable} did not start");
        }
        catch (Win32Exception e)
        {
            throw new FileNotFoundException(
                $"ffmpeg could not be started ({Executable}: {e.Message}); install it (apt install ffmpeg) or set {PathVariable} to its path", Executable, e);
        }
    }

    /// <summary>Waits for ffmpeg and throws with its own message when it failed.</summary>
    public static void Finish(Process process, Task<string> errors, string what)
    {
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            var message = errors.Result.Trim();
            throw new InvalidDataException($"{what}: ffmpeg exited with {process.ExitCode}: {(message.Length == 0 ? "no message" : message)}");
        }
    }
}
