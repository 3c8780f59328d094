using Coach.Engine.Data;
using Coach.Native.Video;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>The camera source on a machine without a camera: every way of naming the wrong device says which device and
/// what to do. Capture itself needs a camera (docs/jetson.md says what was run on hardware).</summary>
public sealed class CameraSourceTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-camera-{Guid.NewGuid():N}");

    public CameraSourceTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void AMissingDeviceIsNamedWithHowToListCameras()
    {
        var device = "/dev/video" + (90 + Random.Shared.Next(9));

        var error = Assert.Throws<CameraException>(() => new CameraFrameSource("camera:" + device, InputContract.Default(112, 112), 10));

        Assert.Contains(device, error.Message);
        Assert.Contains("no such device", error.Message);
        Assert.Contains("ls /dev/video*", error.Message);
        Assert.Contains("v4l2-ctl --list-devices", error.Message);
    }

    [Fact]
    public void AnOrdinaryFileIsNotAVideoDevice()
    {
        var file = Path.Combine(_folder, "video0");
        File.WriteAllBytes(file, new byte[4096]);

        var error = Assert.Throws<CameraException>(() => V4l2Capture.Open(file, 640, 480, V4l2PixelFormat.Yuyv));

        Assert.Contains(file, error.Message);
        Assert.Contains("not a V4L2 video device", error.Message);
        Assert.Contains("v4l2-ctl --list-devices", error.Message);
    }

    [Fact]
    public void ACharacterDeviceThatIsNoCameraIsRefused()
    {
        var error = Assert.Throws<CameraException>(() => V4l2Capture.Open("/dev/null", 640, 480, V4l2PixelFormat.Yuyv));

        Assert.Contains("camera:/dev/null", error.Message);
        Assert.Contains("not a V4L2 video device", error.Message);
    }

    [Theory]
    [InlineData(0x84A00002u, 0x00000002u, "not a video capture device")] // output only (device caps)
    [InlineData(0x00800000u, 0u, "not a video capture device")]          // a metadata node (V4L2_CAP_META_CAPTURE)
    [InlineData(0x00000001u, 0u, "cannot stream")]                       // capture by read() only
    public void ADeviceThatCannotCaptureByStreamingIsRefused(uint capabilities, uint deviceCapabilities, string hint)
    {
        var error = Assert.Throws<CameraException>(() => V4l2Capture.CheckCapabilities("/dev/video3", "UVC Camera", capabilities, deviceCapabilities));

        Assert.Contains("/dev/video3 (UVC Camera)", error.Message);
        Assert.Contains(hint, error.Message);
        Assert.Contains("ls /dev/video*", error.Message);
    }

    [Fact]
    public void ACaptureAndStreamingDeviceIsAccepted() =>
        V4l2Capture.CheckCapabilities("/dev/video0", "UVC Camera", 0x84A00001u, 0x04200001u);

    [Theory]
    [InlineData("camera:/dev/video0", "/dev/video0", 640, 480)]
    [InlineData("camera:/dev/video2@1280x720", "/dev/video2", 1280, 720)]
    public void SpecsNameTheDeviceAndSize(string spec, string device, int width, int height) =>
        Assert.Equal((device, width, height), CameraFrameSource.Parse(spec));

    [Theory]
    [InlineData("camera:")]
    [InlineData("camera:/dev/video0@641x480")]
    [InlineData("camera:/dev/video0@big")]
    public void BadSpecsAreRefused(string spec) =>
        Assert.Contains("camera:/dev/video0", Assert.Throws<FormatException>(() => CameraFrameSource.Parse(spec)).Message);

    [Fact]
    public void FourCcCodesReadAsText() => Assert.Equal("YUYV", V4l2Capture.FourCc((uint)V4l2PixelFormat.Yuyv));
}
