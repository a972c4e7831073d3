/* permwatchctl: the control client. All of it lives in client.c. */
#include "client.h"

int main(int argc, char **argv)
{
    return client_main(argc, argv);
}
